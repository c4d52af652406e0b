package io.plugkit.spark;

import java.io.Serializable;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Arrays;
import java.util.List;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.types.ArrayType;
import org.apache.spark.sql.types.BinaryType;
import org.apache.spark.sql.types.DataType;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructField;
import org.apache.spark.sql.types.StructType;

/**
 * How one row's value of the input column becomes {@code numel} floats of the batch: the column's
 * kind is fixed from the schema on the driver; each value is checked (null, length) in the task
 * before it is copied, so bad rows fail with the column, the row and the sizes named, before any
 * native call.
 */
final class InputColumn implements Serializable {
  private static final long serialVersionUID = 1L;

  enum Kind {
    /** array&lt;float&gt;: the values, row-major in the given shape. */
    FLOAT_ARRAY,
    /** array&lt;double&gt;: as FLOAT_ARRAY, each value rounded to float. */
    DOUBLE_ARRAY,
    /** binary: the values as little-endian float32 bytes (4 per value), row-major. */
    F32_BYTES,
    /**
     * Spark's image struct (the {@code image} data source: height, width, nChannels, mode, data as
     * 8-bit HWC pixels in OpenCV's BGR(A) order), read as torchvision's ToTensor reads a PIL image:
     * CHW, RGB(A), each value / 255.
     */
    IMAGE
  }

  /** OpenCV's 8-bit modes, the only ones Spark's image data source writes: CV_8UC1, CV_8UC3, CV_8UC4. */
  private static final int[] IMAGE_MODES = {0, 16, 24};

  final String name;
  final int index;
  final Kind kind;
  final int numel;
  private final String shape;

  private final int[] dims;
  /** For IMAGE: the struct's field indices of height, width, nChannels, mode, data. */
  private final int[] imageFields;

  private InputColumn(String name, int index, Kind kind, int[] dims, int[] imageFields) {
    this.name = name;
    this.index = index;
    this.kind = kind;
    long n = 1;
    for (int d : dims) n *= d;
    this.numel = (int) n;
    this.dims = dims.clone();
    this.shape = Arrays.toString(dims);
    this.imageFields = imageFields;
  }

  /** Checks that {@code schema} has {@code name} of a supported type. */
  static InputColumn of(StructType schema, String name, int[] shape) {
    int index;
    try {
      index = schema.fieldIndex(name);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("inputCol: no column '" + name + "' in " + Arrays.toString(schema.fieldNames()));
    }
    StructField f = schema.fields()[index];
    DataType t = f.dataType();
    Kind kind;
    int[] imageFields = null;
    if (t instanceof StructType st && isImage(st)) {
      kind = Kind.IMAGE;
      imageFields = new int[] {st.fieldIndex("height"), st.fieldIndex("width"), st.fieldIndex("nChannels"), st.fieldIndex("mode"),
          st.fieldIndex("data")};
      if (shape.length != 3 || shape[0] > 4 || shape[0] == 2) {
        throw new IllegalArgumentException("shape: an image column ('" + name + "') needs shape (channels 1, 3 or 4, height, width) but got "
            + Arrays.toString(shape));
      }
    } else if (t instanceof ArrayType a && a.elementType().equals(DataTypes.FloatType)) {
      kind = Kind.FLOAT_ARRAY;
    } else if (t instanceof ArrayType a && a.elementType().equals(DataTypes.DoubleType)) {
      kind = Kind.DOUBLE_ARRAY;
    } else if (t instanceof BinaryType) {
      kind = Kind.F32_BYTES;
    } else {
      throw new IllegalArgumentException("inputCol: expected column '" + name
          + "' of type array<float>, array<double>, binary (little-endian float32) or Spark's image struct but got " + t.simpleString());
    }
    return new InputColumn(name, index, kind, shape, imageFields);
  }

  private static boolean isImage(StructType st) {
    java.util.Set<String> names = new java.util.HashSet<>(Arrays.asList(st.fieldNames()));
    if (!names.containsAll(java.util.List.of("height", "width", "nChannels", "mode", "data"))) return false;
    for (String f : new String[] {"height", "width", "nChannels", "mode"}) {
      if (!st.apply(f).dataType().equals(DataTypes.IntegerType)) return false;
    }
    return st.apply("data").dataType() instanceof BinaryType;
  }

  /** Copies {@code row}'s value into {@code dst} at {@code offset}; {@code rowNumber} and {@code partition} name the row in errors. */
  void read(Row row, float[] dst, int offset, long rowNumber, int partition) {
    if (row.isNullAt(index)) {
      throw new IllegalArgumentException("inputCol: column '" + name + "' is null in " + where(rowNumber, partition) + "; filter or fill nulls before scoring");
    }
    switch (kind) {
      case FLOAT_ARRAY, DOUBLE_ARRAY -> {
        List<Object> values = row.getList(index);
        requireLength(values.size(), rowNumber, partition);
        for (int i = 0; i < numel; i++) {
          Object v = values.get(i);
          if (v == null) {
            throw new IllegalArgumentException("inputCol: column '" + name + "' has a null element at " + i + " in " + where(rowNumber, partition));
          }
          dst[offset + i] = ((Number) v).floatValue();
        }
      }
      case F32_BYTES -> {
        byte[] bytes = (byte[]) row.get(index);
        if (bytes.length != 4L * numel) {
          throw new IllegalArgumentException("inputCol: column '" + name + "' " + where(rowNumber, partition) + ": expected "
              + 4L * numel + " bytes (" + numel + " little-endian float32 values for shape " + shape + ") but got " + bytes.length);
        }
        ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer().get(dst, offset, numel);
      }
      case IMAGE -> readImage(row.getStruct(index), dst, offset, rowNumber, partition);
    }
  }

  private void readImage(Row img, float[] dst, int offset, long rowNumber, int partition) {
    int h = img.getInt(imageFields[0]);
    int w = img.getInt(imageFields[1]);
    int c = img.getInt(imageFields[2]);
    int mode = img.getInt(imageFields[3]);
    if (c != dims[0] || h != dims[1] || w != dims[2]) {
      throw new IllegalArgumentException("inputCol: column '" + name + "' " + where(rowNumber, partition) + ": expected an image of "
          + dims[0] + " channels, height " + dims[1] + ", width " + dims[2] + " (shape " + shape + ") but got " + c + " channels, height "
          + h + ", width " + w + "; resize first");
    }
    if (Arrays.stream(IMAGE_MODES).noneMatch(m -> m == mode)) {
      throw new IllegalArgumentException("inputCol: column '" + name + "' " + where(rowNumber, partition)
          + ": expected an 8-bit image (OpenCV mode 0, 16 or 24) but got mode " + mode);
    }
    byte[] data = img.isNullAt(imageFields[4]) ? null : (byte[]) img.get(imageFields[4]);
    if (data == null || data.length != numel) {
      throw new IllegalArgumentException("inputCol: column '" + name + "' " + where(rowNumber, partition) + ": expected " + numel
          + " bytes of image data (height x width x channels) but got " + (data == null ? "null" : data.length));
    }
    // HWC BGR(A) -> CHW RGB(A): channel k of the tensor is stored channel (2 - k) for k < 3.
    int plane = h * w;
    for (int k = 0; k < c; k++) {
      int src = c >= 3 && k < 3 ? 2 - k : k;
      int o = offset + k * plane;
      for (int p = 0; p < plane; p++) dst[o + p] = (data[p * c + src] & 0xff) / 255f;
    }
  }

  private static String where(long rowNumber, int partition) { return "row " + rowNumber + " of partition " + partition; }

  private void requireLength(int length, long rowNumber, int partition) {
    if (length != numel) {
      throw new IllegalArgumentException("inputCol: column '" + name + "' " + where(rowNumber, partition) + ": expected "
          + numel + " values (shape " + shape + ") but got " + length);
    }
  }
}
