"""The dashboard's forms. They check only what the page needs to build a request; the API
checks everything else, and its message is shown next to the field it names
(:func:`show_api_error`)."""

from __future__ import annotations

import json

from django import forms

from dashboard.api import ApiError

LEVELS = [("READ", "READ"), ("EXECUTE", "EXECUTE"), ("UPDATE", "UPDATE"), ("NONE", "NONE (take back)")]


def show_api_error(form: forms.Form, error: ApiError) -> None:
    """Put the API's message next to the field it names, else at the top of the form."""
    form.add_error(error.field(list(form.fields)), error.message)


def form_fields(form: forms.Form, names) -> dict:
    """The fields a user filled in, as the API's form fields (booleans as true/false)."""
    out = {}
    for name in names:
        value = form.cleaned_data.get(name)
        if isinstance(value, bool):
            out[name] = "true" if value else "false"
        elif value not in (None, ""):
            out[name] = str(value)
    return out


class SignInForm(forms.Form):
    token = forms.CharField(required=False, widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
                            help_text="a platform token (abaco token --user NAME)")
    client_id = forms.CharField(required=False, label="OAuth2 client id")
    client_secret = forms.CharField(required=False, widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
                                    label="client secret")

    def clean(self):
        data = super().clean()
        if not data.get("token") and not (data.get("client_id") and data.get("client_secret")):
            raise forms.ValidationError("Give a token, or an OAuth2 client id and its secret.")
        return data


class ActorForm(forms.Form):
    FIELDS = ("image", "name", "description", "stateless", "token", "max_workers", "mem_limit",
              "default_environment")
    image = forms.CharField(required=False, help_text="e.g. abaco/echo:local")
    name = forms.CharField(required=False)
    description = forms.CharField(required=False)
    stateless = forms.BooleanField(required=False, initial=True)
    token = forms.BooleanField(required=False, label="give executions the owner's OAuth token")
    max_workers = forms.CharField(required=False)
    mem_limit = forms.CharField(required=False, help_text='e.g. "256m"')
    default_environment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}),
                                          help_text='JSON object, e.g. {"GREETING": "hi"}')


class UpdateForm(ActorForm):
    force = forms.BooleanField(required=False, label="restart the workers on the new revision")
    FIELDS = ActorForm.FIELDS + ("force",)


class AliasForm(forms.Form):
    alias = forms.CharField()


class PermissionForm(forms.Form):
    user = forms.CharField()
    level = forms.ChoiceField(choices=LEVELS)


class NonceForm(forms.Form):
    level = forms.ChoiceField(choices=LEVELS[:3])
    max_uses = forms.IntegerField(initial=10, help_text="-1: unlimited")
    description = forms.CharField(required=False)


class MessageForm(forms.Form):
    KINDS = [("raw", "raw text"), ("json", "JSON"), ("binary", "file, sent as binary")]
    kind = forms.ChoiceField(choices=KINDS, initial="raw", widget=forms.RadioSelect)
    message = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 4}))
    file = forms.FileField(required=False)
    environment = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}),
                                  help_text="NAME=value, one a line (query parameters)")
    synchronous = forms.BooleanField(required=False, label="wait for the result (synchronous)")

    def clean_environment(self) -> dict:
        out = {}
        for line in (self.cleaned_data.get("environment") or "").splitlines():
            if not line.strip():
                continue
            name, sep, value = line.partition("=")
            if not sep or not name.strip():
                raise forms.ValidationError(f"{line.strip()!r} is not NAME=value")
            out[name.strip()] = value
        return out

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == "binary" and not data.get("file"):
            self.add_error("file", "Choose a file to send as a binary message.")
        if kind == "json":
            try:
                json.loads(data.get("message") or "")
            except ValueError as exc:
                self.add_error("message", f"Not valid JSON: {exc}")
        if kind == "raw" and not data.get("message"):
            self.add_error("message", "Write a message.")
        return data


class RangeForm(forms.Form):
    since = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
