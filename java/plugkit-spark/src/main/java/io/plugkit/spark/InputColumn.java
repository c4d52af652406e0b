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
    F32_BYTES
  }

  final String name;
  final int index;
  final Kind kind;
  final int numel;
  private final String shape;

  private InputColumn(String name, int index, Kind kind, int numel, String shape) {
    this.name = name;
    this.index = index;
    this.kind = kind;
    this.numel = numel;
    this.shape = shape;
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
    if (t instanceof ArrayType a && a.elementType().equals(DataTypes.FloatType)) {
      kind = Kind.FLOAT_ARRAY;
    } else if (t instanceof ArrayType a && a.elementType().equals(DataTypes.DoubleType)) {
      kind = Kind.DOUBLE_ARRAY;
    } else if (t instanceof BinaryType) {
      kind = Kind.F32_BYTES;
    } else {
      throw new IllegalArgumentException("inputCol: expected column '" + name
          + "' of type array<float>, array<double> or binary (little-endian float32) but got " + t.simpleString());
    }
    long n = 1;
    for (int d : shape) n *= d;
    return new InputColumn(name, index, kind, (int) n, Arrays.toString(shape));
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
