/** The daemon's D-Bus names (docs/dbus-api.md); one place, so adapters and tests agree. */
export const PROVISIONING_SERVICE = 'xyz.openbmc_project.Provisioning';
export const PROVISIONING_PATH = '/xyz/openbmc_project/Provisioning';
export const PROVISIONING_INTERFACE = 'xyz.openbmc_project.Provisioning.Provisioning';

/** OpenBMC common errors (phosphor-dbus-interfaces xyz/openbmc_project/Common/error.yaml). */
export const CommonError = {
  InvalidArgument: 'xyz.openbmc_project.Common.Error.InvalidArgument',
  NotAllowed: 'xyz.openbmc_project.Common.Error.NotAllowed',
  Unavailable: 'xyz.openbmc_project.Common.Error.Unavailable',
  Timeout: 'xyz.openbmc_project.Common.Error.Timeout',
  InternalFailure: 'xyz.openbmc_project.Common.Error.InternalFailure',
  TooManyResources: 'xyz.openbmc_project.Common.Error.TooManyResources',
} as const;
