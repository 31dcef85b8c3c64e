#!/bin/sh
# Resident, writes its PID to $RES_PID_FILE at start and answers every call, but does not exit
# when stdin closes (it sleeps 60 s instead), so the driver has to stop it after the grace period.
echo $$ > "$RES_PID_FILE"
while IFS= read -r config; do
    status=$(sed -n 's/^  "statusFile": "\(.*\)",$/\1/p' "$config")
    printf '{"status": "success"}\n' > "$status"
    echo "DONE: $config"
done
sleep 60
