"""Authentication logs of a syslog daemon (/var/log/auth.log, /var/log/secure) as journal observations."""
