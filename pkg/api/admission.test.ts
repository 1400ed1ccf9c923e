import { describe, expect, it } from 'vitest';
import { clusterReservedPorts, PortSet, privilegedServiceFeatures, reservedPortCauses, unsupportedServiceFields } from './admission.js';
import type { ServiceSpec } from './types.js';
import { validateService } from './validation.js';

const base = (extra: Record<string, unknown> = {}, tspec: Record<string, unknown> = {}, container: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: 'shoal/v1',
  kind: 'Service',
  metadata: { name: 'web' },
  spec: { replicas: 1, ...extra, template: { spec: { containers: [{ name: 'm', image: 'busybox', ...container }], ...tspec } } },
});
const fields = (b: unknown): string[] => unsupportedServiceFields(b).map((c) => c.field);

describe('unsupportedServiceFields', () => {
  it('refuses, with the field, what would be accepted and ignored', () => {
    expect(unsupportedServiceFields(base())).toEqual([]);
    expect(fields(base({ mode: 'cron', schedule: '* * * * *' }))).toEqual(['spec.mode', 'spec.schedule']);
    expect(fields(base({ mode: 'cron' }))).toEqual(['spec.mode']);
    expect(fields(base({ update: { parallelism: 1, order: 'start-first', delay: '10s', failureAction: 'rollback' } }))).toEqual(['spec.update.delay', 'spec.update.failureAction']);
    expect(fields(base({ update: { monitor: '1m', maxFailureRatio: 0.1 } }))).toEqual(['spec.update.monitor', 'spec.update.maxFailureRatio']);
    expect(fields(base({ placement: { constraints: ['node.labels.zone==a'], maxReplicasPerNode: 1, spread: 'node.labels.zone' } }))).toEqual(['spec.placement.spread']);
    expect(fields(base({}, { volumes: [{ name: 'h', hostPath: { path: '/etc' } }, { name: 'e', emptyDir: {} }, { name: 'x' }] }))).toEqual([
      'spec.template.spec.volumes[0].hostPath', 'spec.template.spec.volumes[1].emptyDir', 'spec.template.spec.volumes[2]',
    ]);
    expect(fields(base({}, { volumes: [] }, { volumeMounts: [] }))).toEqual([]);
    expect(fields(base({}, {}, { livenessProbe: {}, volumeMounts: [{ name: 'h', mountPath: '/x' }], imagePullPolicy: 'Always' }))).toEqual([
      'spec.template.spec.containers[0].volumeMounts', 'spec.template.spec.containers[0].livenessProbe', 'spec.template.spec.containers[0].imagePullPolicy',
    ]);
    expect(fields(base({}, {}, { readinessProbe: {}, imagePullPolicy: 'Never' }))).toEqual([
      'spec.template.spec.containers[0].readinessProbe', 'spec.template.spec.containers[0].imagePullPolicy',
    ]);
    expect(fields(base({}, {}, { imagePullPolicy: 'IfNotPresent' }))).toEqual([]);
    expect(fields(base({}, { network: 'mynet' }))).toEqual(['spec.template.spec.network']);
    for (const network of ['bridge', 'host', 'none']) expect(fields(base({}, { network }))).toEqual([]);
    expect(fields(base({}, { restartPolicy: 'Always' }))).toEqual(['spec.template.spec.restartPolicy']);
    expect(fields(base({}, { containers: [{ name: 'a', image: 'x' }, { name: 'b', image: 'y' }] }))).toEqual(['spec.template.spec.containers[1]']);
    expect(unsupportedServiceFields('nonsense')).toEqual([]);
    expect(unsupportedServiceFields({ spec: { template: 'x' } })).toEqual([]);
  });

  it('says it is not supported yet, and what to do', () => {
    const [cause] = unsupportedServiceFields(base({}, { volumes: [{ name: 'h', hostPath: { path: '/etc' } }] }));
    expect(cause).toEqual({
      field: 'spec.template.spec.volumes[0].hostPath',
      reason: 'FieldValueNotSupported',
      message: expect.stringMatching(/^a hostPath volume is not supported yet: .*remove it$/),
    });
    expect(unsupportedServiceFields(base({}, { restartPolicy: 'Always' }))[0]?.message).toMatch(/spec\.restart/);
  });

  it('is part of validateService: all causes at once, shape problems included', () => {
    const body = base({ mode: 'cron', schedule: '* * * *' }, { volumes: [{ name: 'h', hostPath: { path: 'relative' } }] }, { image: 'bad image' });
    const got = [...new Set(validateService(body).map((c) => c.field))].sort();
    expect(got).toEqual([
      'spec.mode', 'spec.schedule', 'spec.template.spec.containers[0].image',
      'spec.template.spec.volumes[0].hostPath', 'spec.template.spec.volumes[0].hostPath.path',
    ].sort());
    expect(validateService(base())).toEqual([]);
  });
});

describe('host ports', () => {
  it('parses port lists', () => {
    expect(PortSet.parse('80, 8000-8100').toString()).toBe('80,8000-8100');
    expect(PortSet.parse('').toString()).toBe('');
    expect(PortSet.parse('443,8000-8100').has(8050)).toBe(true);
    expect(PortSet.parse('443,8000-8100').has(8101)).toBe(false);
    for (const bad of ['0', '65536', '90-70', 'http', '1-2-3', '-5']) expect(() => PortSet.parse(bad), bad).toThrow(/not a port/);
  });

  it('refuses the cluster own ports, in either mode and protocol, unless allowed', () => {
    const spec = {
      ports: [
        { port: 6443, targetPort: 80 },
        { port: 8080, targetPort: 80 },
        { port: 2379, targetPort: 80, mode: 'host' },
        { port: 4789, targetPort: 4789, protocol: 'UDP' },
        { port: 22, targetPort: 22, mode: 'host' },
        { port: 2380, targetPort: 80 },
      ],
    } as ServiceSpec;
    const reserved = clusterReservedPorts(6443);
    expect(reservedPortCauses(spec, { reserved, allowed: PortSet.EMPTY }).map((c) => c.field)).toEqual([
      'spec.ports[0].port', 'spec.ports[2].port', 'spec.ports[3].port', 'spec.ports[4].port', 'spec.ports[5].port',
    ]);
    expect(reservedPortCauses(spec, { reserved, allowed: PortSet.parse('22,2379-2380') }).map((c) => c.field)).toEqual(['spec.ports[0].port', 'spec.ports[3].port']);
    const [api] = reservedPortCauses(spec, { reserved, allowed: PortSet.EMPTY });
    expect(api).toEqual({ field: 'spec.ports[0].port', reason: 'FieldValueForbidden', message: expect.stringMatching(/port 6443 is the controller's API.*--allowed-host-ports 6443/) });
    expect(reservedPortCauses({}, { reserved, allowed: PortSet.EMPTY })).toEqual([]);
  });

  it('reserves the controller listen port, whatever it is', () => {
    const spec = { ports: [{ port: 7443, targetPort: 80 }, { port: 6443, targetPort: 80 }] } as ServiceSpec;
    expect(reservedPortCauses(spec, { reserved: clusterReservedPorts(7443), allowed: PortSet.EMPTY }).map((c) => c.field)).toEqual(['spec.ports[0].port']);
    expect([...clusterReservedPorts(7443).keys()].sort((a, b) => a - b)).toEqual([22, 2379, 2380, 4789, 7443]);
  });
});

describe('privilegedServiceFeatures', () => {
  it('names what reaches the host: host networking, ports below 1024 in either mode, hostPath volumes', () => {
    const spec = {
      ports: [{ port: 80, targetPort: 80 }, { port: 8080, targetPort: 80 }, { port: 443, targetPort: 443, mode: 'host' }, { port: 1024, targetPort: 1 }],
      template: { spec: { network: 'host', containers: [], volumes: [{ name: 'e', emptyDir: {} }, { name: 'h', hostPath: { path: '/var/run' } }] } },
    } as unknown as ServiceSpec;
    const found = privilegedServiceFeatures(spec);
    expect(found.map((f) => f.field)).toEqual([
      'spec.template.spec.network', 'spec.ports[0].port', 'spec.ports[2].port', 'spec.template.spec.volumes[1].hostPath',
    ]);
    for (const f of found) expect(f.reason.length).toBeGreaterThan(0);
    expect(found[3]?.reason).toMatch(/\/var\/run/);
  });

  it('is empty for a service that stays in its containers', () => {
    expect(privilegedServiceFeatures({ ports: [{ port: 8080, targetPort: 80 }], template: { spec: { network: 'bridge', containers: [] } } } as unknown as ServiceSpec)).toEqual([]);
    expect(privilegedServiceFeatures({ template: { spec: { containers: [] } } } as unknown as ServiceSpec)).toEqual([]);
  });
});

describe('secret and config references', () => {
  it('refuse targets that would escape /run/secrets or break a bind mount', async () => {
    const { validateService } = await import('./validation.js');
    const svc = (tspec: Record<string, unknown>): unknown => ({
      apiVersion: 'shoal/v1', kind: 'Service', metadata: { name: 'w' },
      spec: { replicas: 1, template: { spec: { containers: [{ name: 'm', image: 'busybox' }], ...tspec } } },
    });
    const fields = (tspec: Record<string, unknown>): string[] => validateService(svc(tspec)).map((c) => c.field);
    expect(fields({ secrets: [{ source: 'a' }], configs: [{ source: 'c', target: '/etc/app.conf' }] })).toEqual([]);
    expect(fields({ secrets: [{ source: 'a', target: '../../etc/shadow' }] })).toEqual(['spec.template.spec.secrets[0].target']);
    expect(fields({ secrets: [{ source: 'a', target: 'x:y' }] })).toEqual(['spec.template.spec.secrets[0].target']);
    expect(fields({ configs: [{ source: 'c', target: '/etc/a:rw' }] })).toEqual(['spec.template.spec.configs[0].target']);
    expect(fields({ configs: [{ source: 'c', target: '/proc/sys/kernel/core_pattern' }] })).toEqual(['spec.template.spec.configs[0].target']);
    expect(fields({ configs: [{ source: 'c', target: '/etc/../x' }] })).toEqual(['spec.template.spec.configs[0].target']);
    expect(fields({ configs: [{ source: 'c' }] })).toEqual(['spec.template.spec.configs[0].target']);
    expect(fields({ secrets: [{ source: 'a' }, { source: 'b', target: 'a' }] })).toEqual(['spec.template.spec.secrets[1].target']);
  });
});
