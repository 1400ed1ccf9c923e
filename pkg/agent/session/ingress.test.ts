import { afterEach, describe, expect, it, vi } from 'vitest';
import { API_VERSION, CONTAINER_TASK_LABEL, type ServicePort, type Task, type TaskState } from '../../api/index.js';
import { IngressApplier, localIngress, type LocalIngressPort } from './ingress.js';
import type { TaskContainer } from './task-runtime.js';

const task = (name: string, ports: ServicePort[] | undefined, state: TaskState = 'running', desiredState: 'running' | 'shutdown' = 'running'): [string, Task] => [
  `default/${name}`,
  {
    apiVersion: API_VERSION, kind: 'Task', metadata: { name, namespace: 'default', resourceVersion: '1' },
    spec: { serviceName: 'web', serviceGeneration: 1, nodeName: 'n1', desiredState, template: { spec: { containers: [{ name: 'm', image: 'img' }] } }, ...(ports ? { ports } : {}) },
    status: { state },
  },
];
const ctr = (name: string, ip: string | undefined, status: TaskContainer['status'] = 'running'): TaskContainer => ({
  id: `c-${name}`, name, labels: { [CONTAINER_TASK_LABEL]: `default/${name}` }, status, exitCode: 0, oomKilled: false, ...(ip !== undefined ? { ip } : {}),
});

describe('localIngress', () => {
  const web: ServicePort[] = [{ port: 8080, targetPort: 80 }, { port: 53, targetPort: 5353, protocol: 'UDP', mode: 'ingress' }, { port: 9090, targetPort: 90, mode: 'host' }];

  it('groups ingress ports over the running local replicas, sorted, host ports left out', () => {
    const tasks = [task('web.2', web), task('web.1', web)];
    const containers = [ctr('web.2', '10.0.0.9'), ctr('web.1', '10.0.0.10')];
    expect(localIngress(tasks, containers)).toEqual([
      { protocol: 'udp', port: 53, backends: [{ ip: '10.0.0.10', port: 5353 }, { ip: '10.0.0.9', port: 5353 }] },
      { protocol: 'tcp', port: 8080, backends: [{ ip: '10.0.0.10', port: 80 }, { ip: '10.0.0.9', port: 80 }] },
    ]);
  });

  it('counts a task only when desired and reported running with a running, addressed container', () => {
    const one: ServicePort[] = [{ port: 8080, targetPort: 80 }];
    const tasks = [
      task('ok', one),
      task('starting', one, 'starting'),
      task('stopping', one, 'running', 'shutdown'),
      task('exited', one),
      task('no-ip', one),
      task('no-container', one),
      task('no-ports', undefined),
    ];
    const containers = [ctr('ok', '10.0.0.2'), ctr('starting', '10.0.0.3'), ctr('stopping', '10.0.0.4'), ctr('exited', '10.0.0.5', 'exited'), ctr('no-ip', undefined), ctr('no-ports', '10.0.0.6')];
    expect(localIngress(tasks, containers)).toEqual([{ protocol: 'tcp', port: 8080, backends: [{ ip: '10.0.0.2', port: 80 }] }]);
    expect(localIngress([], containers)).toEqual([]);
  });
});

describe('IngressApplier', () => {
  let ac = new AbortController();
  afterEach(() => {
    ac.abort();
    ac = new AbortController();
  });
  const quiet = { info: () => undefined, warn: () => undefined, error: vi.fn() };
  const ports = (n: number): LocalIngressPort[] => [{ protocol: 'tcp', port: 8080, backends: [{ ip: `10.0.0.${n}`, port: 80 }] }];

  it('coalesces schedules, applies only changes, retries after a failure and waits on close', async () => {
    let current: LocalIngressPort[] | undefined;
    const applied: LocalIngressPort[][] = [];
    let fail = false;
    const a = new IngressApplier({
      apply: async (p) => {
        if (fail) throw new Error('iptables');
        applied.push(p);
      },
      compute: () => current,
      log: quiet,
      signal: ac.signal,
      debounceMs: 5,
    });
    const settle = async (): Promise<void> => {
      await new Promise((r) => setTimeout(r, 20));
      await a.close();
    };
    a.schedule(); // not known yet: nothing
    await settle();
    current = ports(1);
    a.schedule();
    a.schedule();
    await settle();
    a.schedule(); // unchanged
    await settle();
    expect(applied).toEqual([ports(1)]);
    current = ports(2);
    fail = true;
    a.schedule();
    await settle();
    expect(quiet.error).toHaveBeenCalledTimes(1);
    fail = false;
    a.schedule(); // the same ports again: not applied yet, so applied now
    await settle();
    expect(applied).toEqual([ports(1), ports(2)]);
    ac.abort();
    a.schedule();
    await settle();
    expect(applied).toHaveLength(2);
  });
});
