import { describe, expect, it } from 'vitest';
import { errors, fromStatus, httpStatusOf, ShoalError, toStatus } from './errors.js';

describe('errors', () => {
  it('maps a validation error to a 422 V1Status with causes', () => {
    const s = toStatus(errors.invalid('Service "web" is invalid', [{ field: 'spec.replicas', reason: 'FieldValueInvalid', message: 'must be >= 0' }]));
    expect(s.code).toBe(422);
    expect(s.reason).toBe('Invalid');
    expect(s.details?.causes?.[0]?.field).toBe('spec.replicas');
  });
  it('round-trips through the wire form', () => {
    const e = fromStatus(409, toStatus(errors.conflict('stale')));
    expect(e).toBeInstanceOf(ShoalError);
    expect(e.code).toBe('Conflict');
    expect(e.message).toBe('stale');
  });
  it('turns unknown throws into Internal and status-only answers into codes', () => {
    expect(toStatus(new Error('boom')).code).toBe(500);
    expect(fromStatus(503, 'nope').code).toBe('Unavailable');
    expect(httpStatusOf('TooLarge')).toBe(413);
  });
});
