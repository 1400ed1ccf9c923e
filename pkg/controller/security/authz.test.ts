import { describe, expect, it } from 'vitest';
import { authorize, requestAttributes, type Identity } from './authz.js';

const A = '/apis/shoal/v1';
const viewer: Identity = { kind: 'user', name: 'v', role: 'viewer', via: 'token' };
const deployer: Identity = { kind: 'user', name: 'd', role: 'deployer', via: 'token' };
const deployerNs: Identity = { kind: 'user', name: 'd', role: 'deployer', namespace: 'team', via: 'token' };
const admin: Identity = { kind: 'user', name: 'admin', role: 'admin', via: 'certificate' };
const n1: Identity = { kind: 'node', name: 'n1' };

function may(id: Identity, method: string, url: string): boolean {
  return authorize(id, requestAttributes(method, url)).allowed;
}

describe('requestAttributes', () => {
  it('reads verb, resource, namespace, name and subresource from the URL', () => {
    expect(requestAttributes('GET', `${A}/namespaces/default/services/web`)).toMatchObject({ verb: 'get', resource: 'services', namespace: 'default', name: 'web', allNamespaces: false });
    expect(requestAttributes('GET', `${A}/tasks?watch=1&fieldSelector=spec.nodeName%3Dn1`)).toMatchObject({ verb: 'watch', resource: 'tasks', allNamespaces: true, fieldSelector: 'spec.nodeName=n1' });
    expect(requestAttributes('POST', `${A}/namespaces/x/tasks/t1/exec?spec=1`)).toMatchObject({ verb: 'exec', name: 't1', sub: 'exec' });
    expect(requestAttributes('GET', `${A}/nodes/n1/tunnel`)).toMatchObject({ verb: 'connect', resource: 'nodes', name: 'n1' });
    expect(requestAttributes('POST', `${A}/nodes/n1/tunnel/abc`)).toMatchObject({ verb: 'connect', sub: 'tunnel/abc' });
    expect(requestAttributes('GET', '/healthz').public).toBe(true);
    expect(requestAttributes('POST', `${A}/cluster/join`).public).toBe(true);
    expect(requestAttributes('DELETE', `${A}/cluster/join`).public).toBe(false);
    expect(requestAttributes('GET', `${A}/cluster/backup`)).toMatchObject({ resource: 'cluster', sub: 'backup', public: false });
  });
});

describe('roles', () => {
  it('viewer reads but does not write, read logs, exec, back up or see tokens', () => {
    expect(may(viewer, 'GET', `${A}/namespaces/default/services`)).toBe(true);
    expect(may(viewer, 'GET', `${A}/nodes`)).toBe(true);
    expect(may(viewer, 'GET', `${A}/cluster/info`)).toBe(true);
    expect(may(viewer, 'POST', `${A}/namespaces/default/services`)).toBe(false);
    expect(may(viewer, 'GET', `${A}/namespaces/default/services/web/log`)).toBe(false);
    expect(may(viewer, 'POST', `${A}/namespaces/default/tasks/t/exec`)).toBe(false);
    expect(may(viewer, 'GET', `${A}/cluster/backup`)).toBe(false);
    expect(may(viewer, 'GET', `${A}/cluster/tokens`)).toBe(false);
    expect(may(viewer, 'GET', `${A}/nodes/n1/tunnel`)).toBe(false);
  });

  it('deployer manages services and networks, logs and exec; not nodes, tasks or the cluster', () => {
    expect(may(deployer, 'POST', `${A}/namespaces/default/services`)).toBe(true);
    expect(may(deployer, 'PUT', `${A}/namespaces/default/services/web/scale`)).toBe(true);
    expect(may(deployer, 'DELETE', `${A}/namespaces/default/networks/n`)).toBe(true);
    expect(may(deployer, 'GET', `${A}/namespaces/default/services/web/log`)).toBe(true);
    expect(may(deployer, 'POST', `${A}/namespaces/default/tasks/t/exec`)).toBe(true);
    expect(may(deployer, 'PATCH', `${A}/nodes/n1`)).toBe(false);
    expect(may(deployer, 'PUT', `${A}/namespaces/default/tasks/t/status`)).toBe(false);
    expect(may(deployer, 'PUT', `${A}/namespaces/default/services/web/status`)).toBe(false);
    expect(may(deployer, 'POST', `${A}/cluster/join-tokens/worker/rotate`)).toBe(false);
  });

  it('a namespace-bound token stays in its namespace', () => {
    expect(may(deployerNs, 'POST', `${A}/namespaces/team/services`)).toBe(true);
    expect(may(deployerNs, 'POST', `${A}/namespaces/default/services`)).toBe(false);
    expect(may(deployerNs, 'GET', `${A}/services`)).toBe(false);
    expect(may(deployerNs, 'GET', `${A}/nodes`)).toBe(true);
  });

  it('admin does everything; a deny names role, verb and resource', () => {
    expect(may(admin, 'GET', `${A}/cluster/backup`)).toBe(true);
    expect(may(admin, 'DELETE', `${A}/nodes/n1`)).toBe(true);
    const d = authorize(viewer, requestAttributes('POST', `${A}/namespaces/default/services`));
    expect(d.allowed).toBe(false);
    if (!d.allowed) expect(d.message).toBe('user "v" (role viewer) may not create services in namespace "default": viewers only read');
  });
});

describe('the Node authorizer', () => {
  it('a node acts on its own Node only', () => {
    expect(may(n1, 'GET', `${A}/nodes/n1`)).toBe(true);
    expect(may(n1, 'PUT', `${A}/nodes/n1/status`)).toBe(true);
    expect(may(n1, 'POST', `${A}/nodes/n1/heartbeat`)).toBe(true);
    expect(may(n1, 'GET', `${A}/nodes/n1/tunnel`)).toBe(true);
    expect(may(n1, 'POST', `${A}/nodes/n1/certificate`)).toBe(true);
    expect(may(n1, 'GET', `${A}/nodes/n2`)).toBe(false);
    expect(may(n1, 'POST', `${A}/nodes/n2/heartbeat`)).toBe(false);
    expect(may(n1, 'GET', `${A}/nodes/n2/tunnel`)).toBe(false);
    expect(may(n1, 'POST', `${A}/nodes/n2/certificate`)).toBe(false);
    expect(may(n1, 'DELETE', `${A}/nodes/n1`)).toBe(false);
    expect(authorize(n1, requestAttributes('POST', `${A}/nodes`))).toEqual({ allowed: true, guard: { kind: 'node-named', node: 'n1' } });
  });

  it('lists only its own tasks, and reads or writes a task only through the guard', () => {
    expect(may(n1, 'GET', `${A}/tasks?fieldSelector=spec.nodeName%3Dn1`)).toBe(true);
    expect(may(n1, 'GET', `${A}/tasks?watch=1&fieldSelector=spec.nodeName%3Dn1`)).toBe(true);
    expect(may(n1, 'GET', `${A}/tasks`)).toBe(false);
    expect(may(n1, 'GET', `${A}/tasks?fieldSelector=spec.nodeName%3Dn2`)).toBe(false);
    expect(may(n1, 'GET', `${A}/tasks?fieldSelector=spec.nodeName%3Dn10`)).toBe(false);
    expect(authorize(n1, requestAttributes('PUT', `${A}/namespaces/default/tasks/t/status`))).toEqual({ allowed: true, guard: { kind: 'task-on-node', node: 'n1' } });
    expect(may(n1, 'PUT', `${A}/namespaces/default/tasks/t`)).toBe(false);
    expect(may(n1, 'DELETE', `${A}/namespaces/default/tasks/t`)).toBe(false);
  });

  it('reads the network view and nothing else', () => {
    expect(may(n1, 'GET', `${A}/nodes?watch=1`)).toBe(true);
    expect(may(n1, 'GET', `${A}/endpoints?watch=1`)).toBe(true);
    expect(may(n1, 'GET', `${A}/services`)).toBe(false);
    expect(may(n1, 'GET', `${A}/namespaces/default/services/web`)).toBe(false);
    expect(may(n1, 'GET', `${A}/cluster/info`)).toBe(false);
    expect(may(n1, 'GET', '/metrics')).toBe(false);
    expect(may(n1, 'POST', `${A}/namespaces/default/services`)).toBe(false);
  });
});
