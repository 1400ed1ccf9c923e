import { describe, expect, it } from 'vitest';
import { API_VERSION, type Node } from '../../api/index.js';
import { taskCreateOptions } from './create-options.js';
import { cgroupPathOf, desiredNode, nodeStatusOf, parseCpuLimit, parseMemoryLimit, POD_CIDR_ANNOTATION } from './node-info.js';

describe('cgroup limits', () => {
  it('finds the agent cgroup and parses limits', () => {
    const v1 = '12:memory:/system.slice/shoal.service\n4:cpu,cpuacct:/x\n';
    expect(cgroupPathOf(v1, 'memory', 1)).toBe('/system.slice/shoal.service');
    expect(cgroupPathOf(v1, 'cpu', 1)).toBe('/x');
    expect(cgroupPathOf('0::/a/b\n', '', 2)).toBe('/a/b');
    expect(parseMemoryLimit('9223372036854771712\n')).toBeUndefined();
    expect(parseMemoryLimit('max')).toBeUndefined();
    expect(parseMemoryLimit('536870912')).toBe(536870912);
    expect(parseCpuLimit('-1', '100000')).toBeUndefined();
    expect(parseCpuLimit('150000', '100000')).toBe(1500);
    expect(parseCpuLimit('50000 100000')).toBe(500);
    expect(parseCpuLimit('max 100000')).toBeUndefined();
  });
});

describe('desiredNode', () => {
  const id = { nodeName: 'n1', labels: { zone: 'a' }, advertiseAddr: '10.0.0.2', hostname: 'h', agentVersion: '0.1.0' };
  const status = nodeStatusOf(id, { cpuMillis: 2000, memoryBytes: 2 * 1024 ** 3, kernel: '6.1', arch: 'x64', cgroupVersion: 1 }, new Date(0));
  it('builds the status from the machine', () => {
    expect(status.capacity).toEqual({ cpu: '2', memory: '2Gi', pods: 110 });
    expect(status.addresses?.[0]).toEqual({ type: 'InternalIP', address: '10.0.0.2' });
    expect(status.info).toMatchObject({ kernel: '6.1', cgroupVersion: 1, agentVersion: '0.1.0' });
  });
  it('keeps the controller/user spec and records the pod CIDR', () => {
    const existing: Node = {
      apiVersion: API_VERSION, kind: 'Node', metadata: { name: 'n1', resourceVersion: '7' },
      spec: { availability: 'drain', podCIDR: '10.244.3.0/24', labels: { rack: '1', zone: 'old' } }, status: { state: 'down' },
    };
    const n = desiredNode(existing, id, status);
    expect(n.spec).toEqual({ availability: 'drain', podCIDR: '10.244.3.0/24', labels: { rack: '1', zone: 'a' } });
    expect(n.metadata.resourceVersion).toBe('7');
    expect(n.metadata.annotations?.[POD_CIDR_ANNOTATION]).toBe('10.244.3.0/24');
    // Ready or down is the node monitor's call (on heartbeats), not the registering agent's.
    expect(n.status.state).toBe('down');
    expect(n.status.capacity).toEqual(status.capacity);
    expect(desiredNode(undefined, id, status).status.state).toBe('ready');
    expect(desiredNode(undefined, id, status).spec).toEqual({ availability: 'active', labels: { zone: 'a' } });
  });
});

describe('taskCreateOptions', () => {
  it('maps the template to a container', () => {
    const o = taskCreateOptions({
      apiVersion: API_VERSION, kind: 'Task', metadata: { name: 'web.1.x', namespace: 'prod' },
      spec: {
        serviceName: 'web', serviceGeneration: 1, desiredState: 'running',
        template: { spec: { containers: [{
          name: 'm', image: 'busybox', command: ['sleep'], args: ['9'], env: [{ name: 'A', value: '1' }], workingDir: '/w',
          resources: { limits: { memory: '64Mi', cpu: '500m' }, pids: 20 },
        }] } },
      },
      status: { state: 'accepted' },
    });
    expect(o).toMatchObject({
      name: 'web.1.x', image: 'busybox', entrypoint: ['sleep'], cmd: ['9'], env: ['A=1'], workingDir: '/w',
      memory: 64 * 1024 * 1024, nanoCpus: 500_000_000, pidsLimit: 20, labels: { 'shoal.task': 'prod/web.1.x', 'shoal.service': 'web' },
    });
  });

  it('publishes host-mode ports on the node and leaves ingress ports to the load balancer', () => {
    const o = taskCreateOptions({
      apiVersion: API_VERSION, kind: 'Task', metadata: { name: 'web.1.x', namespace: 'default' },
      spec: {
        serviceName: 'web', serviceGeneration: 1, desiredState: 'running',
        template: { spec: { containers: [{ name: 'm', image: 'busybox' }] } },
        ports: [{ port: 8080, targetPort: 80, mode: 'host' }, { port: 53, targetPort: 5353, protocol: 'UDP', mode: 'host' }, { port: 9000, targetPort: 90 }],
      },
      status: { state: 'accepted' },
    });
    expect(o.ports).toEqual(['8080:80/tcp', '53:5353/udp']);
  });
});
