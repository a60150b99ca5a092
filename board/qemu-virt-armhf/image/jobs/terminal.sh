# The terminal as in the field: tillsyncd on the NOR journal partition, with the configuration,
# keys and CA the host shares (9p, tag "host"); the POS's sales come in on TCP port 7000 (QEMU's
# hostfwd), uploads go to https://localhost:8443, relayed to the host's mock (QEMU's guestfwd
# 10.0.2.100:443). verify runs first, on the journal as the last power cut left it.
#   ts.drain=1: instead of running until the power is cut, wait for every sale to be delivered,
#   print the status, stop the daemon cleanly and verify again.
mkdir -p /mnt/host /etc/tillsync /run/tillsync
mount -t 9p -o trans=virtio,version=9p2000.L host /mnt/host || { echo "TS-FAIL no host share"; exit 1; }
cp /mnt/host/tillsync.json /mnt/host/glu.key /mnt/host/ca.pem /mnt/host/device.key /etc/tillsync/
chmod 600 /etc/tillsync/glu.key /etc/tillsync/device.key
sed -i "s#@JOURNAL@#$TS_JOURNAL_MTD#" /etc/tillsync/tillsync.json
cfg="--config /etc/tillsync/tillsync.json"
tillsyncctl $cfg verify > /tmp/verify.log 2>&1
echo "TS-VERIFY rc=$? $(grep -E '^(verdict|records|backend|wear|customer)' /tmp/verify.log | tr -s ' ' | tr '\n' ';')"
/usr/libexec/tillsync/tcp_relay 8443 tcp:10.0.2.100:443 &
# Started as on a terminal: the service's init script, the daemon as user tillsync (its keys
# and the journal's device given to it, as the package and a board's udev rule would).
chown tillsync:tillsync /etc/tillsync/glu.key /etc/tillsync/device.key "$TS_JOURNAL_MTD"
touch /tmp/daemon.log && chown tillsync /tmp/daemon.log
TILLSYNC_LOG_FILE=/tmp/daemon.log /etc/init.d/tillsync start || echo "TS-FAIL the init script did not start the daemon"
for p in /proc/[0-9]*; do
  [ "$(cat $p/comm 2>/dev/null)" = tillsyncd ] &&
    echo "TS-DAEMON pid ${p#/proc/} uid $(awk '/^Uid:/ {print $2}' $p/status) nice $(cut -d' ' -f19 $p/stat)"
done
/usr/libexec/tillsync/tcp_relay 7000 unix:/run/tillsync/pos.sock &
echo "TS-READY"
if grep -q ts.debug /proc/cmdline; then  # by hand: what the daemon says, every 5 s
  while :; do sleep 5; grep -v 'network change' /tmp/daemon.log | tail -3; echo "network changes: $(grep -c 'network change' /tmp/daemon.log)"; tillsyncctl $cfg status --json | tr ',' '\n' | grep -E 'turns|queued|delivered|last_error'; done &
fi
drain=$(for a in $(cat /proc/cmdline); do case "$a" in ts.drain=*) echo "${a#*=}";; esac; done)
if [ -z "$drain" ]; then
  grep -q ts.shell= /proc/cmdline && exit 0  # by hand: the daemon runs on, a shell comes up
  while :; do sleep 3600; done  # until the host pulls the plug
fi
for i in $(seq 1 600); do
  tillsyncctl $cfg status --json > /tmp/status.json 2>/dev/null
  grep -q '"queued":0,' /tmp/status.json && break
  sleep 0.5
done
echo "TS-STATUS $(cat /tmp/status.json)"
TILLSYNC_LOG_FILE=/tmp/daemon.log /etc/init.d/tillsync stop
echo "TS-STOPPED rc=$?"
tillsyncctl $cfg verify > /tmp/verify.log 2>&1
echo "TS-VERIFY rc=$? $(grep -E '^(verdict|records|backend|wear|customer)' /tmp/verify.log | tr -s ' ' | tr '\n' ';')"
tail -5 /tmp/daemon.log
