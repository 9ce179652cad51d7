export { API, type APIOptions, type Metadata, type RequestOptions, VERSION } from './api.ts';
export type { MatchRoute, Method, Query, QueryFor, QueryValue, RouteBody, RouteMetadata, RouteQuery } from './routes.ts';
export { type Logger, REDACTED } from './debug.ts';
export { APIConnectionError, APIException, APINotFoundException } from './errors.ts';
export { APIResult, type RequestRecord, type ResponseRecord, type ResultPromise, type WaitOptions } from './result.ts';
export { findSocket, socketCandidates, unixEndpoint } from './transport.ts';
export { type AsyncResponse, type Envelope, type ErrorResponse, StatusCode, type SyncResponse } from './types.ts';
// Every resource and request type of LXD 5.0's API description: Instance, InstancesPost, Image, Operation, Server, ...
export type * from './generated/lxd-types.ts';
export {
  type EventOf,
  type EventsOptions,
  EventStream,
  type EventStreamEnd,
  type EventType,
  type LifecycleAction,
  type LifecycleEvent,
  type LifecycleEventMetadata,
  type LoggingEvent,
  type LoggingEventMetadata,
  type LXDEvent,
  openEvents,
  type OperationEvent,
} from './events.ts';
export { connectExec, type ExecOptions, type ExecSession } from './exec.ts';
export {
  type CancelOptions,
  cancelOperation,
  latestOperation,
  OperationGoneError,
  OperationNotCancellableError,
  operationProgress,
  OperationTimeoutError,
  type WaitUntilDoneOptions,
  waitUntilDone,
} from './operations.ts';
export { openWebSocket, type WebSocketOptions, websocketUrl } from './websocket.ts';
export {
  type Cli,
  type CliConfig,
  type CliConfigOptions,
  type CliRemote,
  RemoteConfigError,
  readCliConfig,
} from './cli-config.ts';
export type { RemoteOptions } from './remote.ts';
export { decodeTrustToken, type TrustToken } from './token.ts';
export type { JoinOptions, Joined } from './join.ts';
