import { describe, expect, it } from 'vitest';
import { toShoalError } from '../../api/index.js';
import { parseCreateBody } from './create-body.js';

const causesOf = (body: unknown): { field: string; reason: string; message: string }[] => {
  try {
    parseCreateBody(body);
  } catch (err) {
    return toShoalError(err).causes;
  }
  throw new Error('parsed');
};

describe('parseCreateBody', () => {
  it('names every field of the wrong type, in field order, and takes null as absent', () => {
    const causes = causesOf({
      image: 'x', cmd: 'sh', env: ['A=1', '=2'], user: 1, stopTimeout: -1, init: 'yes', pidsLimit: 1.5, labels: { a: 1 }, memory: true, networkMode: null,
    });
    expect(causes.map((c) => `${c.field}: ${c.message}`)).toEqual([
      'cmd: must be a list of strings',
      'env[1]: want KEY=VALUE',
      'user: must be a string',
      'stopTimeout: must be an integer >= 0',
      'init: must be true or false',
      'pidsLimit: must be an integer >= 0',
      'labels: must be an object of strings',
      'memory: must be a number or a string',
    ]);
  });

  it('refuses a body that is not an object, and ports or aliases where the mode has no network', () => {
    expect(() => parseCreateBody([1])).toThrow(expect.objectContaining({ code: 'InvalidArgument' }));
    expect(causesOf({ image: 'x', networkMode: 'host', networkAliases: ['a'] })).toEqual([
      { field: 'networkAliases', reason: 'FieldValueForbidden', message: 'not available in network mode host' },
    ]);
  });

  it('builds the create options, the name from the query when the body has none', () => {
    expect(parseCreateBody({ image: 'x', cmd: ['sh'], labels: { a: 'b' }, stopSignal: 'SIGINT', networkMode: 'default', ports: ['8080:80'] }, 'web')).toEqual({
      image: 'x', name: 'web', cmd: ['sh'], labels: { a: 'b' }, stopSignal: 'SIGINT', networkMode: 'bridge', ports: ['8080:80'],
    });
  });
});
