package io.plugkit.spark;

import io.plugkit.Device;
import io.plugkit.io.SafeTensors;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.UUID;
import org.apache.spark.SparkContext;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Encoders;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;

/**
 * Batch inference with a plugkit model on Spark: {@link #transform} appends to a DataFrame a
 * column of the model's output for each row.
 *
 * <pre>{@code
 * try (PlugkitScorer scorer = PlugkitScorer.builder()
 *     .model(dev -> new Sequential(new Conv2d(3, 8, 3, 3, 1, true, dev), new ReLU(), ...)) // architecture
 *     .weights(Path.of("model.safetensors"))      // PyTorch state_dict names, loaded strictly
 *     .inputCol("pixels").shape(3, 32, 32)         // array<float>, array<double> or float32 bytes per row
 *     .outputCol("scores").batchSize(64)
 *     .build()) {
 *   scorer.transform(images).write().parquet("scores");
 * }
 * }</pre>
 *
 * <p>How it runs: the weights (safetensors bytes) are broadcast once per scorer and Spark
 * context. Each executor JVM builds the model once per scorer and device (the factory, then the
 * weights, then {@code freeze()}) and every task and partition on it shares that model (see
 * ExecutorModels). A partition's rows go through the model {@code batchSize} at a time, the last
 * batch smaller; the output column is {@code array<float>}, the row's slice of the model's output
 * (its first dimension is the batch), flattened row-major. Device: the task's GPU when Spark
 * assigns one ({@code spark.task.resource.gpu.amount}), else {@link Device#best()} on the executor
 * (CUDA device 0 when usable, or as {@code PLUGKIT_DEVICE} says); {@link Builder#cpu()} or {@link
 * Builder#device} force one.
 *
 * <p>Results: each row's output is computed in a batch of its partition's rows, so it is
 * bit-for-bit what a loop over the same batches on one JVM gives (plugkit's kernels give the same
 * bits at any thread count). The batch composition may still change the last bits where a
 * kernel's choice depends on the batch size (GEMM blocks are cut by shape), so a different
 * {@code batchSize} or partitioning agrees only to float rounding.
 *
 * <p>{@link #close()} destroys the broadcast and drops the model from this JVM's cache (the whole
 * cache in local mode); executors drop idle models least recently used first beyond {@code
 * -Dplugkit.spark.cachedModels} (default 2) per JVM. {@link #transform} is lazy: run the jobs
 * that use its Dataset before closing the scorer (after, their tasks find the broadcast
 * destroyed).
 *
 * <p>Input cost: {@code array<float>} and {@code array<double>} values reach the task as boxed
 * numbers (Spark's Row API); a {@code binary} column of little-endian float32 bytes is copied
 * without boxing, the cheaper form for large rows.
 */
public final class PlugkitScorer implements AutoCloseable {
  private final String id = UUID.randomUUID().toString();
  private final ModelFactory factory;
  private final byte[] weights;
  private final boolean strict;
  private final String inputCol;
  private final String outputCol;
  private final int[] shape;
  private final int batchSize;
  private final DeviceChoice device;
  private final int threadsPerTask;
  private Broadcast<byte[]> broadcast; // guarded by this
  private SparkContext broadcastContext; // guarded by this
  private boolean closed; // guarded by this

  private PlugkitScorer(Builder b) {
    this.factory = b.factory;
    this.weights = b.weights;
    this.strict = b.strict;
    this.inputCol = b.inputCol;
    this.outputCol = b.outputCol;
    this.shape = b.shape;
    this.batchSize = b.batchSize;
    this.device = b.device;
    this.threadsPerTask = b.threadsPerTask;
  }

  public static Builder builder() { return new Builder(); }

  /**
   * {@code data} with the output column appended (lazy, as every Dataset transformation). The
   * schema is checked here: the input column must exist with a supported type and the output
   * column must not; each row's value is checked in its task, before any native call.
   */
  public Dataset<Row> transform(Dataset<?> data) {
    if (data == null) throw new IllegalArgumentException("data: expected a Dataset but got null");
    Dataset<Row> df = data.toDF();
    StructType schema = df.schema();
    InputColumn input = InputColumn.of(schema, inputCol, shape);
    if (Arrays.asList(schema.fieldNames()).contains(outputCol)) {
      throw new IllegalArgumentException("outputCol: column '" + outputCol + "' already exists in " + Arrays.toString(schema.fieldNames()));
    }
    StructType out = schema.add(outputCol, DataTypes.createArrayType(DataTypes.FloatType, false), false);
    PartitionScorer scorer = new PartitionScorer(id, broadcast(df.sparkSession().sparkContext()), factory, strict, input, shape,
        batchSize, device, threadsPerTask);
    return df.mapPartitions(scorer, Encoders.row(out));
  }

  /** The weights' broadcast in {@code sc}, made on first use (again if the scorer is used with a new context). */
  private synchronized Broadcast<byte[]> broadcast(SparkContext sc) {
    if (closed) throw new IllegalStateException("this PlugkitScorer is closed");
    if (broadcast == null || broadcastContext != sc) {
      broadcast = JavaSparkContext.fromSparkContext(sc).broadcast(weights);
      broadcastContext = sc;
    }
    return broadcast;
  }

  /** Destroys the weights' broadcast and drops this scorer's model from this JVM; idempotent. */
  @Override public synchronized void close() {
    if (closed) return;
    closed = true;
    if (broadcast != null && !broadcastContext.isStopped()) broadcast.destroy();
    ExecutorModels.retire(id);
  }

  /** Models built by scorers in this JVM so far: one per scorer and device, unless evicted or failed. */
  public static long modelsBuiltInThisJvm() { return ExecutorModels.builds(); }

  /** Configures a {@link PlugkitScorer}; {@link #build()} checks everything. */
  public static final class Builder {
    private ModelFactory factory;
    private byte[] weights;
    private boolean strict = true;
    private String inputCol;
    private String outputCol;
    private int[] shape;
    private int batchSize = 32;
    private DeviceChoice device = DeviceChoice.BEST;
    private int threadsPerTask;

    private Builder() {}

    /** The model's architecture (serializable: it travels to the executors). */
    public Builder model(ModelFactory factory) {
      if (factory == null) throw new IllegalArgumentException("model: expected a ModelFactory but got null");
      this.factory = factory;
      return this;
    }

    /** The model's architecture by the name of a {@link ModelFactory} class (see {@link ModelFactory#named}). */
    public Builder model(String factoryClassName) { return model(ModelFactory.named(factoryClassName)); }

    /** The weights as the bytes of a safetensors file (parsed here to check them, broadcast at the first transform). */
    public Builder weights(byte[] safetensors) {
      if (safetensors == null) throw new IllegalArgumentException("weights: expected the bytes of a safetensors file but got null");
      try {
        SafeTensors.parse(safetensors, "(the scorer's weights)");
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("weights: " + e.getMessage(), e);
      }
      this.weights = safetensors;
      return this;
    }

    /** The weights from a safetensors file (read into memory: the broadcast sends bytes). */
    public Builder weights(Path safetensorsFile) {
      if (safetensorsFile == null) throw new IllegalArgumentException("weights: expected a path but got null");
      try {
        return weights(Files.readAllBytes(safetensorsFile));
      } catch (IOException e) {
        throw new UncheckedIOException("weights: could not read " + safetensorsFile, e);
      }
    }

    /** Whether loading requires the weights' keys to match the model's exactly (default true; shapes must always match). */
    public Builder strict(boolean strict) {
      this.strict = strict;
      return this;
    }

    public Builder inputCol(String name) {
      this.inputCol = requireName("inputCol", name);
      return this;
    }

    public Builder outputCol(String name) {
      this.outputCol = requireName("outputCol", name);
      return this;
    }

    /** One row's tensor shape, without the batch dimension (e.g. 3, 32, 32 for CHW images). */
    public Builder shape(int... dims) {
      if (dims == null || dims.length == 0) throw new IllegalArgumentException("shape: expected at least one dimension but got none");
      for (int d : dims) {
        if (d < 1) throw new IllegalArgumentException("shape: expected dimensions >= 1 but got " + Arrays.toString(dims));
      }
      this.shape = dims.clone();
      return this;
    }

    /** Rows per forward (default 32); each partition's last batch holds what is left. */
    public Builder batchSize(int rows) {
      if (rows < 1) throw new IllegalArgumentException("batchSize: expected >= 1 but got " + rows);
      this.batchSize = rows;
      return this;
    }

    /** Runs on the CPU even where a GPU is present. */
    public Builder cpu() { return device(Device.cpu()); }

    /** Runs on {@code device} on every executor (the default picks per task: see the class doc). */
    public Builder device(Device device) {
      if (device == null) throw new IllegalArgumentException("device: expected a Device but got null");
      this.device = DeviceChoice.of(device);
      return this;
    }

    /**
     * Caps the CPU threads of each task's forward (each concurrent task leads its own team, so an
     * executor with K task slots on C cores wants C / K); 0, the default, leaves plugkit's setting.
     */
    public Builder threadsPerTask(int threads) {
      if (threads < 0) throw new IllegalArgumentException("threadsPerTask: expected >= 0 but got " + threads);
      this.threadsPerTask = threads;
      return this;
    }

    public PlugkitScorer build() {
      if (factory == null) throw new IllegalArgumentException("model: not set (builder.model(factory))");
      if (weights == null) throw new IllegalArgumentException("weights: not set (builder.weights(bytes or path))");
      if (inputCol == null) throw new IllegalArgumentException("inputCol: not set");
      if (outputCol == null) throw new IllegalArgumentException("outputCol: not set");
      if (shape == null) throw new IllegalArgumentException("shape: not set (one row's dimensions, without the batch)");
      long numel = 1;
      for (int d : shape) numel = Math.min(numel * d, 1L << 40); // saturate: no overflow
      if (numel * batchSize > Integer.MAX_VALUE - 8) {
        throw new IllegalArgumentException("batchSize: " + batchSize + " rows of shape " + Arrays.toString(shape)
            + " make more than 2^31 values; use a smaller batch");
      }
      if (inputCol.equals(outputCol)) throw new IllegalArgumentException("outputCol: expected a name other than inputCol's but got '" + outputCol + "'");
      return new PlugkitScorer(this);
    }

    private static String requireName(String what, String name) {
      if (name == null || name.isBlank()) {
        throw new IllegalArgumentException(what + ": expected a column name but got " + (name == null ? "null" : "'" + name + "'"));
      }
      return name;
    }
  }
}
