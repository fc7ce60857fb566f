/**
 * roo's public API: what an application module imports (`from 'roo'`).
 */
export { application, ApplicationBuilder, Pipeline, KeyedPipeline } from './application.js';
export type { Application, PipelineSpec, StepSpec } from './application.js';
export {
  computation,
  stateComputation,
  statePartition,
  DEFAULT_KEY_GROUPS,
} from './computations.js';
export type {
  Computation,
  Outputs,
  StateCodec,
  StateComputation,
  StatePartition,
  StatePartitionOptions,
} from './computations.js';
export {
  tcpSource,
  fileSource,
  generatorSource,
  tcpSink,
  fileSink,
  stdoutSink,
  nullSink,
  utf8Decoder,
  encodeInto,
  DEFAULT_SINK_MAX_UNACKED_BYTES,
} from './connectors.js';
export type {
  Decoder,
  Encoder,
  IntoEncoder,
  OutputWriter,
  SourceConfig,
  SinkConfig,
  TcpSourceConfig,
  FileSourceConfig,
  GeneratorSourceConfig,
  TcpSinkConfig,
  SinkDelivery,
  FileSinkConfig,
  StdoutSinkConfig,
  NullSinkConfig,
} from './connectors.js';
export type { AppArgs, AppArgsData, InputAddress, Address } from './args.js';
export { RooError, ErrorCode } from '../../protocols/errors.js';
