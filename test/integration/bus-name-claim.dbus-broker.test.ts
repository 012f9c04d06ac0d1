// The tests of bus-name-claim.test.ts, on dbus-broker.
import { againOnDbusBroker } from '../harness/on-dbus-broker.ts';

await againOnDbusBroker('bus-name-claim.test.ts', () => import('./bus-name-claim.test.ts'));
