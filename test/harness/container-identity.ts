/** The device CA that certifies an identity: its certificate and key, as paths inside the container. */
export interface DeviceCa {
  readonly cert: string;
  readonly key: string;
}

/**
 * The operator's steps of docs/attestation.md, "The identity", as a shell script for a package
 * container: attestationd makes its identity key, the device CA (`ca`, or one made on the spot in
 * /root/ca) certifies it for `name`, and the chain and the CA go where the installed unit reads them.
 */
export function giveIdentityScript(name: string, ca?: DeviceCa): string {
  const cert = ca?.cert ?? 'device-ca.pem';
  const key = ca?.key ?? 'device-ca.key';
  const makeCa = ca
    ? ''
    : `openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout device-ca.key -subj "/CN=test device CA" \\
  -days 30 -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign -out device-ca.pem 2>/dev/null
`;
  return `set -e
mkdir -p /etc/attestation /root/ca && cd /root/ca
node /usr/lib/provisioningd/attestationd.js --conf /var/provisioning/attestation.conf --create-identity-key > identity.pub.pem
${makeCa}printf 'basicConstraints=critical,CA:FALSE\\nkeyUsage=critical,digitalSignature\\nsubjectAltName=DNS:${name}\\n' > device.ext
openssl x509 -new -force_pubkey identity.pub.pem -subj "/CN=${name} device identity" \\
  -CA ${cert} -CAkey ${key} -days 30 -extfile device.ext -out device.pem
cat ${cert} device.pem > /etc/attestation/identity-chain.pem
cp ${cert} /etc/attestation/roots.pem
`;
}
