package io.plugkit.spark;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import io.plugkit.Device;
import io.plugkit.Inference;
import io.plugkit.Scope;
import io.plugkit.Tensor;
import io.plugkit.driver.Drivers;
import io.plugkit.io.SafeTensors;
import io.plugkit.nn.Linear;
import io.plugkit.nn.Module;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * PlugkitScorer in Spark local mode (local[2]: two task threads in this JVM, which is the
 * executor), against a loop over the same batches on this thread with the same model. One
 * SparkSession for the class: starting one costs seconds.
 */
class PlugkitScorerTest {
  private static final int NUMEL = 3 * 6 * 5;
  private static SparkSession spark;
  private static JavaSparkContext jsc;
  private static byte[] weights;

  @BeforeAll
  static void start() {
    spark = SparkSession.builder().master("local[2]").appName("plugkit-spark-test")
        .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate();
    jsc = JavaSparkContext.fromSparkContext(spark.sparkContext());
    weights = randomWeights(new TinyNet(), 11);
  }

  @AfterAll
  static void stop() {
    if (spark != null) spark.stop();
  }

  @BeforeEach
  void clearRecords() {
    TinyNet.BATCHES.clear();
    TinyNet.THREADS.clear();
  }

  /** The factory's model with every F32 parameter and buffer drawn at random (variances positive), as safetensors bytes. */
  static byte[] randomWeights(ModelFactory factory, long seed) {
    Random r = new Random(seed);
    try (Scope s = Scope.open()) {
      Module m = factory.build(Device.cpu());
      for (var e : m.stateDict().entrySet()) {
        Tensor t = e.getValue();
        if (t.dtype() != io.plugkit.DType.F32) continue;
        float[] v = new float[(int) t.numel()];
        boolean positive = e.getKey().endsWith("running_var");
        for (int i = 0; i < v.length; i++) v[i] = positive ? 0.5f + r.nextFloat() : (float) r.nextGaussian() * 0.5f;
        t.copyFrom(v, 0);
      }
      return Weights.of(m);
    }
  }

  static float[] randomRow(Random r) {
    float[] v = new float[NUMEL];
    for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
    return v;
  }

  static final StructType FLOAT_SCHEMA = new StructType().add("id", DataTypes.LongType, false)
      .add("x", DataTypes.createArrayType(DataTypes.FloatType, false), false);

  /** {@code n} rows (id, x: array<float>) in {@code partitions} slices (parallelize: contiguous, in order). */
  static JavaRDD<Row> floatRows(int n, int partitions, long seed) {
    Random r = new Random(seed);
    List<Row> rows = new ArrayList<>();
    for (int i = 0; i < n; i++) rows.add(RowFactory.create((long) i, randomRow(r))); // float[]: an array<float> value as the row encoder takes it
    return jsc.parallelize(rows, partitions);
  }

  static float[] unboxed(List<?> values) {
    float[] v = new float[values.size()];
    for (int i = 0; i < v.length; i++) v[i] = ((Number) values.get(i)).floatValue();
    return v;
  }

  static PlugkitScorer.Builder scorer(int batchSize) {
    return PlugkitScorer.builder().model(new TinyNet()).weights(weights).inputCol("x").shape(TinyNet.SHAPE).outputCol("y")
        .batchSize(batchSize).cpu();
  }

  /**
   * The reference: the same model built on this thread, run over each partition's rows in
   * batches of {@code batchSize}, as one plain loop; returns each id's output.
   */
  static Map<Long, float[]> singleJvmLoop(JavaRDD<Row> rows, int batchSize, Device device) {
    Map<Long, float[]> out = new HashMap<>();
    try (Scope s = Scope.open()) {
      Module model = new TinyNet().build(device);
      model.loadStateDict(SafeTensors.parse(weights, "reference"), true);
      model.freeze();
      // The rows as the scorer's tasks see them: the DataFrame's partitions (no shuffle: the RDD's).
      for (List<Row> partition : spark.createDataFrame(rows, FLOAT_SCHEMA).javaRDD().glom().collect()) {
        for (int from = 0; from < partition.size(); from += batchSize) {
          List<Row> batch = partition.subList(from, Math.min(partition.size(), from + batchSize));
          float[] x = new float[batch.size() * NUMEL];
          for (int i = 0; i < batch.size(); i++) System.arraycopy(unboxed(batch.get(i).getList(1)), 0, x, i * NUMEL, NUMEL);
          try (Inference req = Inference.open()) {
            Tensor t = Tensor.empty(device, batch.size(), 3, 6, 5);
            t.copyFrom(x, 0);
            float[] y = model.forward(t).toArray();
            for (int i = 0; i < batch.size(); i++) out.put(batch.get(i).getLong(0), Arrays.copyOfRange(y, i * TinyNet.OUT, (i + 1) * TinyNet.OUT));
          }
        }
      }
    }
    return out;
  }

  static Map<Long, float[]> byId(Dataset<Row> scored) {
    Map<Long, float[]> out = new HashMap<>();
    for (Row r : scored.collectAsList()) out.put(r.getLong(r.fieldIndex("id")), unboxed(r.getList(r.fieldIndex("y"))));
    return out;
  }

  static void assertSameBits(Map<Long, float[]> expected, Map<Long, float[]> actual) {
    assertEquals(expected.keySet(), actual.keySet());
    for (var e : expected.entrySet()) {
      float[] a = actual.get(e.getKey());
      assertEquals(e.getValue().length, a.length, "row " + e.getKey());
      for (int i = 0; i < a.length; i++) {
        assertEquals(Float.floatToRawIntBits(e.getValue()[i]), Float.floatToRawIntBits(a[i]),
            "row " + e.getKey() + " value " + i + ": " + e.getValue()[i] + " vs " + a[i]);
      }
    }
  }

  @Test
  void equalsASingleJvmLoopBitForBitAndBuildsTheModelOncePerJvm() {
    // 23 rows in 4 partitions (5, 6, 6, 6 rows) at batch 4: every partition ends in a partial batch.
    JavaRDD<Row> rows = floatRows(23, 4, 1);
    int buildsBefore = TinyNet.BUILDS.get();
    long jvmBuildsBefore = PlugkitScorer.modelsBuiltInThisJvm();
    try (PlugkitScorer s = scorer(4).build()) {
      Dataset<Row> scored = s.transform(spark.createDataFrame(rows, FLOAT_SCHEMA));
      assertEquals(FLOAT_SCHEMA.add("y", DataTypes.createArrayType(DataTypes.FloatType, false), false), scored.schema());
      Map<Long, float[]> actual = byId(scored);
      assertEquals(1, TinyNet.BUILDS.get() - buildsBefore, "one model for 4 tasks on 2 task threads");
      List<Integer> batches = new ArrayList<>(TinyNet.BATCHES);
      batches.sort(null);
      assertEquals(List.of(1, 2, 2, 2, 4, 4, 4, 4), batches, "each partition in batches of 4, the last one partial");

      // A second job (another action) reuses the JVM's model.
      assertEquals(23, s.transform(spark.createDataFrame(rows, FLOAT_SCHEMA)).count());
      assertSameBits(actual, byId(s.transform(spark.createDataFrame(rows, FLOAT_SCHEMA))));
      assertEquals(1, TinyNet.BUILDS.get() - buildsBefore, "the model outlives tasks and jobs");
      assertEquals(1, ExecutorModels.size());
      assertEquals(1, PlugkitScorer.modelsBuiltInThisJvm() - jvmBuildsBefore);

      int before = TinyNet.BUILDS.get();
      assertSameBits(singleJvmLoop(rows, 4, Device.cpu()), actual);
      assertEquals(before + 1, TinyNet.BUILDS.get());
    }
    assertEquals(0, ExecutorModels.size(), "close() drops the model from this JVM");
  }

  @Test
  void scoresRoundTripThroughParquet(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) {
    // Hadoop's file system on JDK 25: Spark 4.1's Hadoop 3.4.2 throws "getSubject is not supported" here.
    JavaRDD<Row> rows = floatRows(6, 2, 13);
    String path = dir.resolve("scores").toString();
    Map<Long, float[]> written;
    try (PlugkitScorer s = scorer(4).build()) {
      Dataset<Row> scored = s.transform(spark.createDataFrame(rows, FLOAT_SCHEMA)).select("id", "y");
      scored.write().parquet(path);
      written = byId(spark.read().parquet(path));
    }
    assertSameBits(singleJvmLoop(rows, 4, Device.cpu()), written);
  }

  @Test
  void anotherBatchCompositionAgreesToRounding() {
    // Batch 1 vs batch 4 may differ in the last bits (kernels cut work by shape), not beyond.
    JavaRDD<Row> rows = floatRows(9, 2, 2);
    Map<Long, float[]> four;
    Map<Long, float[]> one;
    try (PlugkitScorer s = scorer(4).build()) {
      four = byId(s.transform(spark.createDataFrame(rows, FLOAT_SCHEMA)));
    }
    try (PlugkitScorer s = scorer(1).build()) {
      one = byId(s.transform(spark.createDataFrame(rows, FLOAT_SCHEMA)));
    }
    assertSameBits(singleJvmLoop(rows, 1, Device.cpu()), one);
    for (long id = 0; id < 9; id++) {
      float[] a = four.get(id);
      float[] b = one.get(id);
      for (int i = 0; i < a.length; i++) assertEquals(a[i], b[i], 1e-5f * (1 + Math.abs(a[i])), "row " + id + " value " + i);
    }
  }

  @Test
  void batchLargerThanEveryPartitionAndEmptyPartitions() {
    // 3 rows in 7 partitions: 4 are empty; batch 64 holds each partition whole.
    JavaRDD<Row> rows = floatRows(3, 7, 3);
    assertEquals(4, rows.glom().collect().stream().filter(List::isEmpty).count());
    Map<Long, float[]> expected = singleJvmLoop(rows, 64, Device.cpu());
    TinyNet.BATCHES.clear();
    try (PlugkitScorer s = scorer(64).build()) {
      assertSameBits(expected, byId(s.transform(spark.createDataFrame(rows, FLOAT_SCHEMA))));
    }
    assertEquals(List.of(1, 1, 1), new ArrayList<>(TinyNet.BATCHES), "one forward per non-empty partition, none for an empty one");
  }

  @Test
  void anEmptyDataFrameBuildsNoModel() {
    int before = TinyNet.BUILDS.get();
    try (PlugkitScorer s = scorer(8).build()) {
      assertEquals(0, s.transform(spark.createDataFrame(floatRows(0, 3, 4), FLOAT_SCHEMA)).count());
    }
    assertEquals(before, TinyNet.BUILDS.get());
  }

  @Test
  void binaryAndDoubleColumnsGiveTheFloatColumnsBits() {
    JavaRDD<Row> rows = floatRows(7, 2, 5);
    StructType schema = new StructType().add("id", DataTypes.LongType).add("x", DataTypes.BinaryType)
        .add("d", DataTypes.createArrayType(DataTypes.DoubleType));
    JavaRDD<Row> other = rows.map(r -> {
      float[] v = (float[]) r.get(1);
      ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
      double[] d = new double[v.length];
      for (int i = 0; i < v.length; i++) {
        b.putFloat(v[i]);
        d[i] = (double) v[i];
      }
      return RowFactory.create(r.getLong(0), b.array(), d);
    });
    Map<Long, float[]> expected = singleJvmLoop(rows, 3, Device.cpu());
    try (PlugkitScorer s = scorer(3).build()) {
      assertSameBits(expected, byId(s.transform(spark.createDataFrame(other, schema))));
    }
    try (PlugkitScorer s = scorer(3).inputCol("d").build()) {
      assertSameBits(expected, byId(s.transform(spark.createDataFrame(other, schema))));
    }
  }

  static final StructType IMAGE = new StructType().add("origin", DataTypes.StringType).add("height", DataTypes.IntegerType)
      .add("width", DataTypes.IntegerType).add("nChannels", DataTypes.IntegerType).add("mode", DataTypes.IntegerType)
      .add("data", DataTypes.BinaryType);

  static Row image(int h, int w, int c, int mode, byte[] data) { return RowFactory.create("mem://img", h, w, c, mode, data); }

  @Test
  void imageStructsAreReadAsToTensorReadsThem() {
    // Spark's image data source rows: 8-bit HWC pixels in BGR order. Expected: CHW, RGB, / 255.
    Random r = new Random(12);
    List<Row> images = new ArrayList<>();
    List<Row> floats = new ArrayList<>();
    for (long id = 0; id < 5; id++) {
      byte[] bgr = new byte[6 * 5 * 3];
      r.nextBytes(bgr);
      float[] chw = new float[NUMEL];
      for (int y = 0; y < 6; y++) {
        for (int x = 0; x < 5; x++) {
          int px = (y * 5 + x) * 3;
          chw[(0 * 6 + y) * 5 + x] = (bgr[px + 2] & 0xff) / 255f; // R
          chw[(1 * 6 + y) * 5 + x] = (bgr[px + 1] & 0xff) / 255f; // G
          chw[(2 * 6 + y) * 5 + x] = (bgr[px] & 0xff) / 255f; // B
        }
      }
      images.add(RowFactory.create(id, image(6, 5, 3, 16, bgr)));
      floats.add(RowFactory.create(id, chw));
    }
    StructType schema = new StructType().add("id", DataTypes.LongType).add("x", IMAGE);
    Map<Long, float[]> expected = singleJvmLoop(jsc.parallelize(floats, 2), 2, Device.cpu());
    try (PlugkitScorer s = scorer(2).build()) {
      assertSameBits(expected, byId(s.transform(spark.createDataFrame(jsc.parallelize(images, 2), schema))));
    }
    assertRejects("shape", "channels 1, 3 or 4", () -> scorer(2).shape(2, 6, 5).build().transform(spark.createDataFrame(images, schema)));
  }

  @Test
  void aNamedFactoryBuildsOnTheExecutor() {
    JavaRDD<Row> rows = floatRows(5, 2, 6);
    try (PlugkitScorer s = scorer(2).model(TinyNet.class.getName()).build()) {
      assertSameBits(singleJvmLoop(rows, 2, Device.cpu()), byId(s.transform(spark.createDataFrame(rows, FLOAT_SCHEMA))));
    }
  }

  @Test
  void rejectsBadSchemasOnTheDriver() {
    Dataset<Row> df = spark.createDataFrame(floatRows(2, 1, 7), FLOAT_SCHEMA);
    try (PlugkitScorer s = scorer(2).build()) {
      assertRejects("inputCol", "no column 'z'", () -> scorer(2).inputCol("z").build().transform(df));
      assertRejects("inputCol", "array<float>, array<double>, binary (little-endian float32) or Spark's image struct", () -> scorer(2).inputCol("id").build().transform(df));
      assertRejects("outputCol", "already exists", () -> scorer(2).outputCol("id").build().transform(df));
      assertRejects("data", "null", () -> s.transform(null));
    }
  }

  @Test
  void rejectsBadRowsBeforeAnyNativeCall() {
    int before = TinyNet.BUILDS.get();
    // Row 1 of partition 0 is one value short: the first batch fails while it is gathered, so no
    // model is built and no kernel runs.
    JavaRDD<Row> rows = floatRows(4, 1, 8).map(r -> r.getLong(0) != 1 ? r
        : RowFactory.create(1L, Arrays.copyOf((float[]) r.get(1), NUMEL - 1)));
    assertTaskFails("inputCol: column 'x' row 1 of partition 0: expected 90 values (shape [3, 6, 5]) but got 89",
        () -> scorer(4).build().transform(spark.createDataFrame(rows, FLOAT_SCHEMA)).count());

    StructType bin = new StructType().add("id", DataTypes.LongType).add("x", DataTypes.BinaryType);
    Dataset<Row> shortBytes = spark.createDataFrame(List.of(RowFactory.create(0L, new byte[4 * NUMEL - 1])), bin);
    assertTaskFails("inputCol: column 'x' row 0 of partition 0: expected 360 bytes (90 little-endian float32 values for shape [3, 6, 5]) but got 359",
        () -> scorer(4).build().transform(shortBytes).count());

    StructType nullable = new StructType().add("id", DataTypes.LongType).add("x", DataTypes.createArrayType(DataTypes.FloatType));
    Dataset<Row> nulls = spark.createDataFrame(List.of(RowFactory.create(0L, null)), nullable);
    assertTaskFails("inputCol: column 'x' is null in row 0 of partition 0", () -> scorer(4).build().transform(nulls).count());

    StructType img = new StructType().add("id", DataTypes.LongType).add("x", IMAGE);
    Dataset<Row> wrongSize = spark.createDataFrame(List.of(RowFactory.create(0L, image(5, 6, 3, 16, new byte[90]))), img);
    assertTaskFails("inputCol: column 'x' row 0 of partition 0: expected an image of 3 channels, height 6, width 5 (shape [3, 6, 5]) but got 3 channels, height 5, width 6",
        () -> scorer(4).build().transform(wrongSize).count());
    assertEquals(before, TinyNet.BUILDS.get(), "no model was built for bad rows");
  }

  @Test
  void weightsThatDoNotFitFailTheTaskAndAreNotCached() {
    byte[] linear;
    try (Scope sc = Scope.open()) {
      linear = Weights.of(new Linear(2, 3, true, Device.cpu()));
    }
    int cached = ExecutorModels.size();
    try (PlugkitScorer s = scorer(4).weights(linear).build()) {
      assertTaskFails("state dict does not fit", () -> s.transform(spark.createDataFrame(floatRows(2, 1, 9), FLOAT_SCHEMA)).count());
      assertEquals(cached, ExecutorModels.size(), "a failed build is not cached");
    }
  }

  /** A parameterless model that drops the batch dimension (flattens everything into one row). */
  static final class FlattenAll extends Module {
    @Override public Tensor forward(Tensor x) { return x.reshape((int) x.numel()); }
  }

  @Test
  void aModelWhoseOutputLosesTheBatchFailsTheTaskClearly() {
    // A lambda factory: serialized with the task, nothing captured.
    ModelFactory lambda = dev -> new FlattenAll();
    byte[] none;
    try (Scope sc = Scope.open()) {
      none = Weights.of(new FlattenAll());
    }
    try (PlugkitScorer s = PlugkitScorer.builder().model(lambda).weights(none).inputCol("x").shape(TinyNet.SHAPE).outputCol("y")
        .batchSize(3).cpu().build()) {
      assertTaskFails("model: expected an F32 output with the batch (3) as its first dimension but got F32 [270]",
          () -> s.transform(spark.createDataFrame(floatRows(4, 1, 14), FLOAT_SCHEMA)).count());
      // One row: the output [90] does not start with the batch (1) either.
      assertTaskFails("as its first dimension", () -> s.transform(spark.createDataFrame(floatRows(1, 1, 15), FLOAT_SCHEMA)).count());
    }
  }

  @Test
  void builderChecksEveryArgument() {
    assertRejects("batchSize", "expected >= 1 but got 0", () -> scorer(0));
    assertRejects("shape", "at least one dimension", () -> scorer(1).shape());
    assertRejects("shape", "expected dimensions >= 1", () -> scorer(1).shape(3, 0));
    assertRejects("weights", "corrupt", () -> scorer(1).weights(new byte[] {1, 2, 3}));
    assertRejects("model", "null", () -> scorer(1).model((ModelFactory) null));
    assertRejects("className", "no class", () -> scorer(1).model("no.such.Factory"));
    assertRejects("className", "implementing", () -> scorer(1).model(String.class.getName()));
    assertRejects("outputCol", "other than inputCol", () -> scorer(1).outputCol("x").build());
    assertRejects("inputCol", "not set", () -> PlugkitScorer.builder().model(new TinyNet()).weights(weights).build());
    assertRejects("batchSize", "2^31", () -> scorer(1 << 20).shape(1 << 12).build());
    assertRejects("threadsPerTask", ">= 0", () -> scorer(1).threadsPerTask(-1));
  }

  @Test
  void runsOnTheCudaDevice() {
    // On a machine without a GPU this is the emulated CUDA device (the kernels' GPU code on the CPU).
    Assumptions.assumeTrue(Drivers.cudaUsable(), () -> "CUDA skipped: " + Drivers.cudaProblem());
    JavaRDD<Row> rows = floatRows(5, 2, 10);
    Map<Long, float[]> actual;
    try (PlugkitScorer s = scorer(2).device(Device.cuda(0)).build()) {
      actual = byId(s.transform(spark.createDataFrame(rows, FLOAT_SCHEMA)));
    }
    // Spark's task threads come and go; the forwards run on the device's fixed threads (one stream each).
    assertNotEquals(0, TinyNet.THREADS.size());
    for (String t : TinyNet.THREADS) assertTrue(t.startsWith("plugkit-spark-cuda:0-"), "forward on thread " + t);
    assertSameBits(singleJvmLoop(rows, 2, Device.cuda(0)), actual);
    Map<Long, float[]> cpu = singleJvmLoop(rows, 2, Device.cpu());
    for (long id = 0; id < 5; id++) {
      for (int i = 0; i < TinyNet.OUT; i++) assertEquals(cpu.get(id)[i], actual.get(id)[i], 1e-4f, "row " + id);
    }
    assertNotEquals(0, actual.size());
  }

  static void assertRejects(String arg, String part, org.junit.jupiter.api.function.Executable call) {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class, call);
    assertTrue(e.getMessage().startsWith(arg + ":") && e.getMessage().contains(part), () -> "expected '" + arg + ": ..." + part + "' but got: " + e.getMessage());
  }

  /** The Spark job fails and its cause chain holds an exception whose message contains {@code message}. */
  static void assertTaskFails(String message, org.junit.jupiter.api.function.Executable job) {
    Throwable t = assertThrows(Exception.class, job);
    for (Throwable c = t; c != null; c = c.getCause()) {
      if (c.getMessage() != null && c.getMessage().contains(message)) return;
    }
    fail("expected a failure saying '" + message + "' but got: " + t);
  }
}
