/**
 * Fencing end to end (issue 11, item 3): a leader frozen with SIGSTOP past its election
 * lease, while another controller takes over and the service changes, must not land the
 * writes it had pending once it is resumed with SIGCONT.
 *
 * One real etcd, two real `dist/shoal-controller.js` processes with a 2 s leader lease, no
 * agents: what is at stake is the orchestrator's task creation, and tasks with no node to go
 * to stay pending (the scheduler only notes "no node fits"). The test reads etcd directly,
 * with revisions, and judges only what is in the store.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Service, Task } from '../../pkg/api/index.js';
import { decodeObject, EtcdStore, resourcePrefix, type KeyValue } from '../../pkg/store/index.js';
import {
  controllerInfo, ensureBuilt, etcdAvailable, startController, startEtcd, stopController, until,
  type ControllerProc, type TestEtcd,
} from './harness/index.js';

const hasEtcd = etcdAvailable();
if (!hasEtcd) console.warn('fencing e2e skipped: the `etcd` binary is not installed (apt-get install etcd-server)');

/** Replicas of the big scale: enough transactions (127 creates each) that the leader is frozen in the middle of them. */
const BIG = 1500;

describe.skipIf(!hasEtcd)('fencing: a leader frozen past its lease', () => {
  let etcd: TestEtcd;
  let store: EtcdStore;
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    ensureBuilt();
    etcd = await startEtcd();
    store = new EtcdStore({ endpoints: etcd.endpoints });
  });
  afterAll(async () => {
    await store?.close();
    await etcd?.stop();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });

  it('writes nothing once resumed: its pending task creations never land after the new leader changed the service', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'shoal-fence-'));
    cleanups.push(() => rm(dir, { recursive: true, force: true }));
    const a = await startController({ dataDir: join(dir, 'a'), etcd: etcd.endpoints });
    cleanups.push(() => stopController(a));
    const b = await startController({ dataDir: join(dir, 'b'), etcd: etcd.endpoints });
    cleanups.push(() => stopController(b));
    const [leader, follower] = await until(
      'one leader',
      async () => {
        const [ia, ib] = [await controllerInfo(a), await controllerInfo(b)];
        if (ia.controller.isLeader === ib.controller.isLeader) return undefined;
        return ia.controller.isLeader ? [a, b] : [b, a];
      },
      30_000,
    );
    // Only the follower is ever asked anything: the leader will be frozen.
    const api = apiOf(follower);
    const name = `fence-${Math.random().toString(36).slice(2, 7)}`;
    const svcPath = `/apis/shoal/v1/namespaces/default/services/${name}`;
    const tasksOf = async (): Promise<{ task: Task; kv: KeyValue }[]> =>
      (await store.list(`${resourcePrefix('tasks')}default/`)).items.map((kv) => ({ kv, task: decodeObject<Task>(kv) })).filter((x) => x.task.spec.serviceName === name);

    await api('POST', '/apis/shoal/v1/namespaces/default/services', service(name, 1));
    await until('slot 1 created by the leader', async () => (await tasksOf()).length === 1);

    // The pending decision. The service is scaled to BIG: the leader's orchestrator decides
    // BIG-1 creations at once and commits them in transactions of 127, one after another.
    // The test watches etcd and freezes the leader as soon as the first of them lands, so it
    // stops with most of them encoded in its memory, not yet sent: writes it will try to
    // make the moment it runs again.
    const watching = new AbortController();
    cleanups.push(() => Promise.resolve(watching.abort()));
    const scaledFrom = (await store.revision()) + 1;
    let frozen = false;
    const freezer = (async () => {
      for await (const batch of store.watch(`${resourcePrefix('tasks')}default/${name}.`, { fromRevision: scaledFrom, signal: watching.signal })) {
        if (batch.some((e) => e.type === 'put' && decodeObject<Task>(e.kv).spec.serviceGeneration === 2)) {
          leader.child.kill('SIGSTOP');
          frozen = true;
          return;
        }
      }
    })();
    const scaled = (await api('PATCH', svcPath, { spec: { replicas: BIG } }, 'application/merge-patch+json')) as Service;
    expect(scaled.metadata.generation).toBe(2);
    await freezer;
    expect(frozen).toBe(true);
    // A transaction already on its way when the signal hit is applied by etcd on its own.
    await new Promise((r) => setTimeout(r, 500));
    const landedBeforeFreeze = (await tasksOf()).filter((x) => x.task.spec.serviceGeneration === 2).length;
    expect(landedBeforeFreeze, 'the leader was frozen in the middle of its creations').toBeGreaterThan(0);
    expect(landedBeforeFreeze, 'the leader was frozen in the middle of its creations').toBeLessThan(BIG - 1);

    // The lease (2 s) runs out; the follower takes over and finishes the scale itself.
    await until('the follower leads', async () => (await controllerInfo(follower)).controller.isLeader, 20_000);
    await until(`the new leader has all ${BIG} replicas`, async () => (await tasksOf()).length === BIG, 60_000, 250);

    // The service changes on the new leader: back to one replica (generation 3). Tasks never
    // placed are removed, so the new leader converges to slot 1 alone.
    const changed = (await api('PATCH', svcPath, { spec: { replicas: 1 } }, 'application/merge-patch+json')) as Service;
    expect(changed.metadata.generation).toBe(3);
    const changedAt = Number(changed.metadata.resourceVersion);
    await until('the new leader scaled down to slot 1', async () => (await tasksOf()).length === 1, 60_000, 250);

    // Every task write from now on, with its revision.
    const seen: KeyValue[] = [];
    const recorder = (async () => {
      for await (const batch of store.watch(`${resourcePrefix('tasks')}default/${name}.`, { fromRevision: changedAt + 1, signal: watching.signal })) {
        for (const e of batch) if (e.type === 'put') seen.push(e.kv);
      }
    })();

    // The old leader runs again, with its decisions from generation 2 still pending.
    leader.child.kill('SIGCONT');
    await until('the old leader knows it is not the leader', async () => !(await controllerInfo(leader)).controller.isLeader, 20_000);
    // Time for anything it still sends to land (its API answering shows it is running).
    await new Promise((r) => setTimeout(r, 3000));
    watching.abort();
    await recorder;

    const stale = seen.map((kv) => ({ kv, task: decodeObject<Task>(kv) })).filter((x) => x.kv.createRevision === x.kv.modRevision && x.task.spec.serviceGeneration !== 3);
    expect(
      stale.map((x) => `${x.task.metadata.name} generation ${x.task.spec.serviceGeneration} at revision ${x.kv.createRevision}`),
      `no task of an older generation created after the change at revision ${changedAt}`,
    ).toEqual([]);
    const live = (await tasksOf()).filter((x) => x.task.spec.desiredState === 'running');
    expect(live.map((x) => x.task.spec.slot)).toEqual([1]);
    expect((await controllerInfo(follower)).controller.isLeader).toBe(true);
    // What the old leader saw (the fence refusing its writes, or its lease found lost): in the test output.
    const said = (await readFile(leader.logPath, 'utf8')).split('\n').filter((l) => /leadership lost|leader election: lost|fenced/.test(l));
    console.log(`old leader after SIGCONT (${landedBeforeFreeze} of ${BIG - 1} creations had landed before the freeze):\n${said.slice(0, 5).join('\n')}`);
    await api('DELETE', svcPath);
  });
});

/** JSON calls to one controller; throws on a non-2xx answer. */
function apiOf(c: ControllerProc): (method: string, path: string, body?: unknown, contentType?: string) => Promise<unknown> {
  return async (method, path, body, contentType = 'application/json') => {
    const res = await fetch(c.url + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': contentType },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} -> ${res.status}: ${text}`);
    return text === '' ? undefined : (JSON.parse(text) as unknown);
  };
}

/** A service no node can run (none is registered): its tasks stay pending. */
function service(name: string, replicas: number): unknown {
  return {
    apiVersion: 'shoal/v1',
    kind: 'Service',
    metadata: { name },
    spec: { replicas, template: { spec: { containers: [{ name: 'main', image: 'busybox' }] } } },
  };
}
