#!/bin/sh
# A stand-in for a local model, used by redact_and_classify.toml through the `command` provider
# plugin: reads one JSON line per item on stdin ({"id", "system", "prompt"}) and answers one
# label per line on stdout.
while IFS= read -r line; do
  case "$line" in
    *refund*|*charged*|*invoice*) echo billing ;;
    *parcel*|*package*|*deliver*) echo shipping ;;
    *) echo technical ;;
  esac
done
