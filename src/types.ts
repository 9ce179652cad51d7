/**
 * The LXD REST API's status codes, as documented in LXD's `doc/rest-api.md`.
 * Operations and instances carry them as `status_code`; 100 to 199 are
 * resource states, 200 to 399 positive results, 400 to 599 failures.
 */
export const StatusCode = {
  OperationCreated: 100,
  Started: 101,
  Stopped: 102,
  Running: 103,
  Cancelling: 104,
  Pending: 105,
  Starting: 106,
  Stopping: 107,
  Aborting: 108,
  Freezing: 109,
  Frozen: 110,
  Thawed: 111,
  Error: 112,
  Ready: 113,
  Success: 200,
  Failure: 400,
  Cancelled: 401,
} as const;

export type StatusCode = (typeof StatusCode)[keyof typeof StatusCode];

/** The envelope of a synchronous answer. A real LXD sends `error: ""` and `error_code: 0` on success. */
export interface SyncResponse<T = unknown> {
  type: 'sync';
  status: string;
  status_code: number;
  operation: string;
  error_code: number;
  error: string;
  metadata: T;
}

/** The envelope of an answer that started a background operation (HTTP 202, with `Location`). */
export interface AsyncResponse<T = unknown> {
  type: 'async';
  status: string;
  status_code: number;
  /** The operation's URL, e.g. `/1.0/operations/<uuid>`. */
  operation: string;
  error_code: number;
  error: string;
  metadata: Operation<T>;
}

/** The envelope of a failure. */
export interface ErrorResponse {
  type: 'error';
  error: string;
  error_code: number;
  metadata: unknown;
}

export type Envelope<T = unknown> = SyncResponse<T> | AsyncResponse<T> | ErrorResponse;

/** A background operation (`/1.0/operations/<id>`). */
export interface Operation<T = Record<string, unknown> | null> {
  id: string;
  /** `task`, `websocket` or `token`. */
  class: string;
  description: string;
  created_at: string;
  updated_at: string;
  status: string;
  status_code: number;
  resources: Record<string, string[]> | null;
  metadata: T;
  may_cancel: boolean;
  /** Empty unless the operation failed. */
  err: string;
  /** The cluster member that runs the operation (`none` outside a cluster). */
  location: string;
}

/** `GET /1.0`: the server's environment and configuration. */
export interface Server {
  api_extensions: string[];
  api_status: string;
  api_version: string;
  auth: 'trusted' | 'untrusted';
  auth_methods: string[];
  public: boolean;
  config: Record<string, unknown>;
  environment?: ServerEnvironment;
}

export interface ServerEnvironment {
  addresses: string[];
  architectures: string[];
  certificate: string;
  certificate_fingerprint: string;
  driver: string;
  driver_version: string;
  kernel: string;
  kernel_architecture: string;
  kernel_version: string;
  project: string;
  server: string;
  server_clustered: boolean;
  server_name: string;
  server_pid: number;
  server_version: string;
  storage: string;
  storage_version: string;
  [key: string]: unknown;
}

/** An instance (container or virtual machine), `GET /1.0/instances/<name>`. */
export interface Instance {
  name: string;
  description: string;
  type: 'container' | 'virtual-machine';
  architecture: string;
  status: string;
  status_code: number;
  created_at: string;
  last_used_at: string;
  /** The cluster member that holds the instance (`none` outside a cluster). */
  location: string;
  project: string;
  profiles: string[];
  config: Record<string, string>;
  devices: Record<string, Record<string, string>>;
  ephemeral: boolean;
  stateful: boolean;
  expanded_config?: Record<string, string>;
  expanded_devices?: Record<string, Record<string, string>>;
}

/** `GET /1.0/instances/<name>/state`. */
export interface InstanceState {
  status: string;
  status_code: number;
  pid: number;
  processes: number;
  cpu: { usage: number };
  memory: { usage: number; usage_peak: number; swap_usage: number; swap_usage_peak: number };
  disk: Record<string, { usage: number }> | null;
  network: Record<string, unknown> | null;
}

/** An image, `GET /1.0/images/<fingerprint>`. */
export interface Image {
  fingerprint: string;
  filename: string;
  size: number;
  architecture: string;
  type: 'container' | 'virtual-machine';
  public: boolean;
  auto_update: boolean;
  cached: boolean;
  aliases: { name: string; description: string }[];
  properties: Record<string, string>;
  created_at: string;
  expires_at: string;
  last_used_at: string;
  uploaded_at: string;
  profiles: string[];
}
