// The tests of shutdown.test.ts, on dbus-broker.
import { againOnDbusBroker } from '../harness/on-dbus-broker.ts';

await againOnDbusBroker('shutdown.test.ts', () => import('./shutdown.test.ts'));
