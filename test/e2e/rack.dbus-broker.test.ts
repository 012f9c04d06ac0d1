// The rack tests of rack.test.ts (two BMCs in network namespaces, trust only through attestation), on dbus-broker.
import { againOnDbusBroker } from '../harness/on-dbus-broker.ts';

await againOnDbusBroker('rack.test.ts', () => import('./rack.test.ts'));
