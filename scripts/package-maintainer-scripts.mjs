// The .deb's postinst (scripts/package.mjs writes it), apart so that a unit test can read it.

/**
 * postinst: on configure, reload systemd, enable the units and (re)start each one on its own. A
 * unit that cannot be started now (e.g. the lldp bridge's where lldpd is not installed) is reported
 * and does not fail the configuration: under `set -e` one failing `systemctl restart` would leave the
 * whole package half-configured. Without a running systemd (an image being built) the units are
 * only enabled.
 * @param {readonly string[]} units
 */
export function postinst(units) {
  const list = units.join(' ');
  return `#!/bin/sh
set -e
if [ "$1" = configure ]; then
  if [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    systemctl enable ${list} >/dev/null
    for unit in ${list}; do
      systemctl restart --no-block "$unit" || echo "provisioningd: $unit was not started (systemctl status $unit tells why)" >&2
    done
  else
    systemctl enable ${list} >/dev/null 2>&1 || true
  fi
fi
`;
}
