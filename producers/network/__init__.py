"""Network producers: netlink (interfaces, addresses, routes) and snapshot scans (DNS, firewall, VPN)."""
