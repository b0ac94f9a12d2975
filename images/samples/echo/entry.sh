#!/bin/sh
echo "Contents of MSG: $MSG"
echo "Environment:"
env
