// The tests of bus-name-lock.test.ts, on dbus-broker.
import { againOnDbusBroker } from '../harness/on-dbus-broker.ts';

await againOnDbusBroker('bus-name-lock.test.ts', () => import('./bus-name-lock.test.ts'));
