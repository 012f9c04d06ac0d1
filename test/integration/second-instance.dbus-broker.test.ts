// The tests of second-instance.test.ts, on dbus-broker.
import { againOnDbusBroker } from '../harness/on-dbus-broker.ts';

await againOnDbusBroker('second-instance.test.ts', () => import('./second-instance.test.ts'));
