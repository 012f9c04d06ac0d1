import { escapePathLabel } from '../dbus/object-path-label.ts';

/** The D-Bus names of attestationd (docs/attestation.md, "D-Bus API"), in one place for both daemons and the tests. */
export const ATTESTATION_SERVICE = 'xyz.openbmc_project.attestation';
/** Parent of the requester objects; also carries the interface that creates them. */
export const REQUESTER_ROOT = '/xyz/openbmc_project/attestation_requester';
export const REQUESTER_DEVICES = `${REQUESTER_ROOT}/devices/tcp`;
export const RESPONDER_ROOT = '/xyz/openbmc_project/attestation_responder/tcp';
/** Interface of a requester object: attest(), remote_ip, remote_port, Attested(b) (contract) plus result properties. */
export const DEVICE_INTERFACE = 'xyz.openbmc_project.AttestationDevice';
/** Interface of a responder object: Attested(b) (contract) plus who attested us. */
export const RESPONDER_INTERFACE = 'xyz.openbmc_project.AttestationResponder';
/** This project's interface on REQUESTER_ROOT: AddDevice(s id, s remote_ip, s remote_port) → o. */
export const DEVICES_INTERFACE = 'xyz.openbmc_project.AttestationDevices';

/** The requester object of device `id`. */
export const requesterPath = (id: string) => `${REQUESTER_DEVICES}/${escapePathLabel(id)}`;
/** The responder object for requests from `remoteAddress`. */
export const responderPath = (remoteAddress: string) => `${RESPONDER_ROOT}/${escapePathLabel(remoteAddress)}`;

/** Index of the measurement block that carries this BMC's provisioning CA certificate (raw DER). */
export const PROVISIONING_CA_INDEX = 0xef;
/** DMTFSpecMeasurementValueType values used here (DSP0274 1.2, table "DMTFSpecMeasurementValueType"). */
export const VALUE_TYPE = { firmware: 1, configuration: 3 } as const;
