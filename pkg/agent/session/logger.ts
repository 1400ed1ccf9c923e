/**
 * The structured logger the session and the tunnel write to (pino's shape, so the agent passes
 * a pino child): an object of fields first, then the message.
 */
export interface SessionLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
