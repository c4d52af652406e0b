package io.plugkit.spark;

import io.plugkit.DType;
import io.plugkit.Device;
import io.plugkit.Inference;
import io.plugkit.Tensor;
import io.plugkit.cpu.CpuDriver;
import io.plugkit.cpu.ThreadLimit;
import io.plugkit.io.SafeTensors;
import io.plugkit.nn.Module;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.NoSuchElementException;
import org.apache.spark.TaskContext;
import org.apache.spark.api.java.function.MapPartitionsFunction;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.resource.ResourceInformation;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/**
 * The task side of {@link PlugkitScorer}: rows of a partition in batches of {@code batchSize}
 * (the last one smaller), each batch one forward of the JVM's cached model, the output appended
 * to each row. Rows are read lazily, one batch ahead of what Spark has consumed.
 */
final class PartitionScorer implements MapPartitionsFunction<Row, Row> {
  private static final long serialVersionUID = 1L;

  private final String scorerId;
  private final Broadcast<byte[]> weights;
  private final ModelFactory factory;
  private final boolean strict;
  private final InputColumn input;
  private final int[] shape;
  private final int batchSize;
  private final DeviceChoice device;
  private final int threadsPerTask;

  PartitionScorer(String scorerId, Broadcast<byte[]> weights, ModelFactory factory, boolean strict, InputColumn input,
      int[] shape, int batchSize, DeviceChoice device, int threadsPerTask) {
    this.scorerId = scorerId;
    this.weights = weights;
    this.factory = factory;
    this.strict = strict;
    this.input = input;
    this.shape = shape.clone();
    this.batchSize = batchSize;
    this.device = device;
    this.threadsPerTask = threadsPerTask;
  }

  @Override public Iterator<Row> call(Iterator<Row> rows) {
    return new Batches(rows, TaskContext.get());
  }

  /** Where this task runs the model: forced, or the task's GPU (Spark resource scheduling), or {@link Device#best()}. */
  private Device resolveDevice(TaskContext task) {
    if (device.kind() != DeviceChoice.Kind.BEST) return device.device();
    if (task != null) {
      Map<String, ResourceInformation> res = task.resourcesJMap();
      ResourceInformation gpu = res == null ? null : res.get("gpu");
      if (gpu != null && gpu.addresses().length > 0) return Device.cuda(Integer.parseInt(gpu.addresses()[0].trim()));
    }
    return Device.best();
  }

  /** Builds the model on {@code dev}: the factory's architecture, the broadcast weights, frozen. */
  private static Module build(ModelFactory factory, byte[] weights, boolean strict, Device dev) {
    Module m = factory.build(dev);
    if (m == null) throw new IllegalStateException("model: the ModelFactory " + factory + " returned null");
    m.loadStateDict(SafeTensors.parse(weights, "the scorer's broadcast weights"), strict);
    return m.freeze();
  }

  private final class Batches implements Iterator<Row> {
    private final Iterator<Row> rows;
    private final TaskContext task;
    private final int partition;
    private final List<Row> pending = new ArrayList<>();
    private int next; // index in pending of the next row to hand out
    private long rowNumber; // rows read from this partition so far
    private float[] buffer;
    private Device dev;
    private ExecutorModels.Lease lease;

    Batches(Iterator<Row> rows, TaskContext task) {
      this.rows = rows;
      this.task = task;
      this.partition = task == null ? -1 : task.partitionId();
    }

    @Override public boolean hasNext() {
      if (next < pending.size()) return true;
      if (!rows.hasNext()) {
        releaseModel();
        return false;
      }
      scoreNextBatch();
      return true;
    }

    @Override public Row next() {
      if (!hasNext()) throw new NoSuchElementException();
      return pending.get(next++);
    }

    private void scoreNextBatch() {
      pending.clear();
      next = 0;
      if (buffer == null) buffer = new float[Math.multiplyExact(batchSize, input.numel)];
      List<Row> batch = new ArrayList<>(batchSize);
      while (batch.size() < batchSize && rows.hasNext()) {
        Row r = rows.next();
        // Checked and copied before any native call of this batch.
        input.read(r, buffer, batch.size() * input.numel, rowNumber, partition);
        rowNumber++;
        batch.add(r);
      }
      float[] out = forward(batch.size());
      int per = out.length / batch.size();
      for (int i = 0; i < batch.size(); i++) {
        Row r = batch.get(i);
        Object[] values = new Object[r.length() + 1];
        for (int c = 0; c < r.length(); c++) values[c] = r.get(c);
        values[r.length()] = Arrays.copyOfRange(out, i * per, (i + 1) * per);
        pending.add(RowFactory.create(values));
      }
    }

    private float[] forward(int n) {
      Module model = model();
      int[] dims = new int[shape.length + 1];
      dims[0] = n;
      System.arraycopy(shape, 0, dims, 1, shape.length);
      return dev.isCuda() ? DeviceThreads.run(dev, () -> forward(model, dims, n)) : forward(model, dims, n);
    }

    private float[] forward(Module model, int[] dims, int n) {
      try (ThreadLimit limit = threadsPerTask > 0 && !dev.isCuda() ? CpuDriver.limitThreads(threadsPerTask) : null;
           Inference request = Inference.open()) {
        Tensor x = Tensor.empty(dev, dims);
        x.copyFrom(buffer, 0);
        Tensor y = model.forward(x);
        if (y.dtype() != DType.F32 || y.rank() < 1 || y.dim(0) != n) {
          throw new IllegalStateException("model: expected an F32 output with the batch (" + n + ") as its first dimension but got "
              + y.dtype() + " " + y.shape() + " for input " + x.shape());
        }
        float[] out = new float[Math.toIntExact(y.numel())];
        y.copyTo(out, 0);
        return out;
      }
    }

    private Module model() {
      if (lease == null) {
        dev = resolveDevice(task);
        byte[] w = weights.value(); // on the task thread: the executor's cached copy of the broadcast
        lease = ExecutorModels.acquire(new ExecutorModels.Key(scorerId, weights.id(), dev), () -> build(factory, w, strict, dev));
        // The lease ends with the task even when Spark stops reading early (limit, failure).
        if (task != null) task.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) t -> releaseModel());
      }
      return lease.model();
    }

    private void releaseModel() {
      if (lease != null) lease.close();
    }
  }
}
