// The tests of peer-objects.test.ts, on dbus-broker.
import { againOnDbusBroker } from '../harness/on-dbus-broker.ts';

await againOnDbusBroker('peer-objects.test.ts', () => import('./peer-objects.test.ts'));
