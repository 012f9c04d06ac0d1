// The tests of system-bus.test.ts, on dbus-broker.
import { againOnDbusBroker } from '../harness/on-dbus-broker.ts';

await againOnDbusBroker('system-bus.test.ts', () => import('./system-bus.test.ts'));
