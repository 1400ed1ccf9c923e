import { describe, expect, it } from 'vitest';
import { clusterReservedPorts, PortSet, privilegedServiceFeatures, reservedPortCauses, unsupportedServiceFields } from './admission.js';
import type { ServiceSpec } from './types.js';

const base = (extra: Record<string, unknown> = {}, tspec: Record<string, unknown> = {}, container: Record<string, unknown> = {}): unknown => ({
  spec: { replicas: 1, ...extra, template: { spec: { containers: [{ name: 'm', image: 'busybox', ...container }], ...tspec } } },
});

describe('unsupportedServiceFields', () => {
  it('refuses, with the field, what would be accepted and ignored', () => {
    expect(unsupportedServiceFields(base())).toEqual([]);
    const fields = (b: unknown): string[] => unsupportedServiceFields(b).map((c) => c.field);
    expect(fields(base({ mode: 'cron', schedule: '* * * * *' }))).toEqual(['spec.mode']);
    expect(fields(base({ update: { parallelism: 1, delay: '10s', failureAction: 'rollback' } }))).toEqual(['spec.update.delay', 'spec.update.failureAction']);
    expect(fields(base({}, { volumes: [{ name: 'h', hostPath: { path: '/etc' } }, { name: 'e', emptyDir: {} }] }))).toEqual([
      'spec.template.spec.volumes[0].hostPath', 'spec.template.spec.volumes[1].emptyDir',
    ]);
    expect(fields(base({}, {}, { livenessProbe: {}, volumeMounts: [{ name: 'h', mountPath: '/x' }], imagePullPolicy: 'Always' }))).toEqual([
      'spec.template.spec.containers[0].livenessProbe', 'spec.template.spec.containers[0].volumeMounts', 'spec.template.spec.containers[0].imagePullPolicy',
    ]);
    expect(fields(base({}, {}, { imagePullPolicy: 'IfNotPresent' }))).toEqual([]);
    expect(fields(base({}, { network: 'mynet' }))).toEqual(['spec.template.spec.network']);
    expect(fields(base({}, { restartPolicy: 'Always' }))).toEqual(['spec.template.spec.restartPolicy']);
    expect(unsupportedServiceFields('nonsense')).toEqual([]);
  });
});

describe('host ports', () => {
  it('parses port lists and refuses reserved ports unless allowed', () => {
    expect(PortSet.parse('80, 8000-8100').toString()).toBe('80,8000-8100');
    expect(() => PortSet.parse('0')).toThrow(/not a port/);
    const spec = { ports: [{ port: 6443, targetPort: 80 }, { port: 8080, targetPort: 80 }, { port: 2379, targetPort: 80 }] } as ServiceSpec;
    const reserved = clusterReservedPorts(6443);
    expect(reservedPortCauses(spec, { reserved, allowed: PortSet.EMPTY }).map((c) => c.field)).toEqual(['spec.ports[0].port', 'spec.ports[2].port']);
    expect(reservedPortCauses(spec, { reserved, allowed: PortSet.parse('2379') }).map((c) => c.field)).toEqual(['spec.ports[0].port']);
    expect(reservedPortCauses(spec, { reserved, allowed: PortSet.EMPTY })[0]?.message).toMatch(/the controller's API/);
  });

  it('names what reaches the host', () => {
    const spec = { ports: [{ port: 80, targetPort: 80 }, { port: 8080, targetPort: 80 }], template: { spec: { network: 'host', containers: [] } } } as unknown as ServiceSpec;
    expect(privilegedServiceFeatures(spec).map((f) => f.field)).toEqual(['spec.template.spec.network', 'spec.ports[0].port']);
  });
});
