// The tests of bus-lost.test.ts, on dbus-broker.
import { againOnDbusBroker } from '../harness/on-dbus-broker.ts';

await againOnDbusBroker('bus-lost.test.ts', () => import('./bus-lost.test.ts'));
