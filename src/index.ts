export { API, type APIOptions, type QueryValue, type RequestOptions, VERSION } from './api.ts';
export { REDACTED } from './debug.ts';
export { APIConnectionError, APIException, APINotFoundException } from './errors.ts';
export { APIResult, type RequestRecord, type ResponseRecord, type ResultPromise, type WaitOptions } from './result.ts';
export { findSocket, socketCandidates, unixEndpoint } from './transport.ts';
export {
  type AsyncResponse,
  type Envelope,
  type ErrorResponse,
  type Image,
  type Instance,
  type InstanceState,
  type Operation,
  type Server,
  type ServerEnvironment,
  StatusCode,
  type SyncResponse,
} from './types.ts';
