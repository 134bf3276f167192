#!/bin/sh
# Capture real authentication logs: Debian 12's sshd, sudo and su logging through rsyslog to files.
# Run as root on Debian 12 with openssh-server, rsyslog and sudo installed. Everything happens in a
# private mount namespace (its own /dev/log, /etc/passwd and /etc/shadow copies, a test user), sshd
# listens on 127.0.0.1 only. Writes auth-traditional.log (RSYSLOG_TraditionalFileFormat, as Debian 12
# and RHEL write /var/log/auth.log and /var/log/secure) and auth-rfc3339.log (RSYSLOG_FileFormat, as
# Ubuntu >= 23.10 writes them) next to this script.
set -eu
OUT=$(cd "$(dirname "$0")" && pwd)
PORT=${PORT:-22022}
exec unshare --mount --propagation private sh -eu -c '
OUT=$1; PORT=$2
W=$(mktemp -d /tmp/authcap.XXXXXX)
mkdir -p "$W/olddev" "$W/etc"
mount --rbind /dev "$W/olddev"
mount -t tmpfs tmpfs /dev
for d in null zero random urandom tty full; do touch /dev/$d; mount --bind "$W/olddev/$d" /dev/$d; done
mkdir /dev/pts && mount --bind "$W/olddev/pts" /dev/pts && ln -s pts/ptmx /dev/ptmx
for f in passwd shadow group gshadow; do cp /etc/$f "$W/etc/$f"; mount --bind "$W/etc/$f" /etc/$f; done
# useradd and chpasswd rename over /etc/passwd, which a bind mount forbids: append to the copies.
mkdir -p "$W/alice"
echo "alice:x:4242:4242::$W/alice:/bin/sh" >> /etc/passwd
echo "alice:x:4242:" >> /etc/group
echo "alice:$(openssl passwd -6 correct-horse):20000:0:99999:7:::" >> /etc/shadow
chown 4242:4242 "$W/alice"
cat > "$W/rsyslog.conf" <<CONF
module(load="imuxsock" SysSock.Name="/dev/log")
global(workDirectory="$W")
auth,authpriv.* action(type="omfile" file="$W/auth-traditional.log" template="RSYSLOG_TraditionalFileFormat")
auth,authpriv.* action(type="omfile" file="$W/auth-rfc3339.log" template="RSYSLOG_FileFormat")
CONF
rsyslogd -n -f "$W/rsyslog.conf" -i "$W/rsyslog.pid" & RS=$!
sleep 1
mkdir -p /run/sshd
ssh-keygen -q -t ed25519 -N "" -f "$W/hostkey"
/usr/sbin/sshd -D -p "$PORT" -o ListenAddress=127.0.0.1 -h "$W/hostkey" -o PidFile="$W/sshd.pid" \
  -o UsePAM=yes -o PasswordAuthentication=yes -o KbdInteractiveAuthentication=no -o MaxAuthTries=3 & SD=$!
sleep 1
try() {  # user password
  printf "#!/bin/sh\necho %s\n" "$2" > "$W/askpass"; chmod +x "$W/askpass"
  SSH_ASKPASS="$W/askpass" SSH_ASKPASS_REQUIRE=force DISPLAY=:0 setsid ssh -p "$PORT" \
    -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PreferredAuthentications=password \
    -o NumberOfPasswordPrompts=2 "$1@127.0.0.1" true </dev/null >/dev/null 2>&1 || true
}
try alice wrong-password          # two failed attempts on one connection
try nosuchuser whatever           # invalid user
try alice correct-horse           # accepted
sudo -u alice id >/dev/null        # sudo run as root for alice
su alice -s /bin/sh -c "sudo -n /usr/bin/id" >/dev/null 2>&1 || true   # alice is not in sudoers
su alice -s /bin/sh -c id >/dev/null  # su from root to alice
sleep 1
kill $SD $RS; wait $SD $RS 2>/dev/null || true
cp "$W/auth-traditional.log" "$W/auth-rfc3339.log" "$OUT/"
umount /dev/pts; for d in null zero random urandom tty full; do umount /dev/$d; done
# The rbind of /dev under $W must be gone before $W is removed, or rm would reach the real /dev.
umount -R "$W/olddev" && rmdir "$W/olddev" && rm -rf "$W"
' sh "$OUT" "$PORT"
