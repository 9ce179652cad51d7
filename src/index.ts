// The public surface. Internal pieces (the transport, the member pool, the HTTP pipeline) are left
// out on purpose: they change without notice.
export { API, type Metadata } from './api.ts';
export {
  type Cli,
  type CliConfig,
  type CliConfigOptions,
  type CliRemote,
  readCliConfig,
} from './cli-config.ts';
export {
  APIConnectionError,
  APIException,
  APINotFoundException,
  type ErrorRequest,
  LXDError,
  MissingExtensionError,
  OperationGoneError,
  OperationNotCancellableError,
  OperationTimeoutError,
  RemoteConfigError,
} from './errors.ts';
export {
  type EventOf,
  EventStream,
  type EventStreamEnd,
  type EventsOptions,
  type EventType,
  type LifecycleAction,
  type LifecycleEvent,
  type LifecycleEventMetadata,
  type LoggingEvent,
  type LoggingEventMetadata,
  type LXDEvent,
  type OperationEvent,
  openEvents,
} from './events.ts';
export { connectExec, type ExecOptions, type ExecSession } from './exec.ts';
export type { PulledFile, PushContent, PushFileOptions } from './files.ts';
// The same of Incus 6.0's description, as a namespace: Incus.Instance, Incus.Access, ... (see API<'incus'>).
export type * as Incus from './generated/incus-types.ts';
// Every resource and request type of LXD 5.0's API description: Instance, InstancesPost, Image, Operation, Server, ...
export type * from './generated/lxd-types.ts';
export type { Joined, JoinOptions } from './join.ts';
export type { Logger } from './log.ts';
export { cancelOperation, latestOperation, operationProgress, waitUntilDone } from './operations.ts';
export {
  type APIOptions,
  type CancelOptions,
  type RequestOptions,
  VERSION,
  type WaitOptions,
  type WebSocketOptions,
} from './options.ts';
export type { ResultPromise } from './promise.ts';
export { REDACTED } from './redact.ts';
export type { RemoteOptions } from './remote.ts';
export type { RequestRecord, ResponseRecord } from './response.ts';
export { APIResult, type Connection, type WaitUntilDoneOptions } from './result.ts';
export type {
  MatchRoute,
  Method,
  Query,
  QueryFor,
  QueryValue,
  RouteBody,
  RouteKey,
  RouteMetadata,
  RouteQuery,
  ServerKind,
} from './routes.ts';
export { findSocket, socketCandidates, unixEndpoint } from './socket.ts';
export { decodeTrustToken, type TrustToken } from './token.ts';
export {
  type AsyncResponse,
  type Envelope,
  type ErrorResponse,
  type ServerInfo,
  StatusCode,
  type SyncResponse,
} from './types.ts';
export { openWebSocket, websocketUrl } from './websocket.ts';
