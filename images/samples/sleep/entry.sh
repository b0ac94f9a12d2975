#!/bin/sh
# Runs SLEEP_SECONDS (default 60) seconds, printing one line each second.
total="${SLEEP_SECONDS:-60}"
echo "sleeping $total s; MSG: $MSG"
i=1
while [ "$i" -le "$total" ]; do
    echo "sleep $i/$total"
    sleep 1
    i=$((i + 1))
done
echo "done sleeping"
