package io.plugkit.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.plugkit.cpu.NativeLoader;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Set;
import org.junit.jupiter.api.Test;

class KernelModuleTest {
  @Test void readsTheSassArchitecturesOfAFatbin() {
    // Header, then ELF sm_80, PTX compute_90, ELF sm_90 entries (64-byte entry headers, 8-byte payloads).
    ByteBuffer b = ByteBuffer.allocate(16 + 3 * 72).order(ByteOrder.LITTLE_ENDIAN);
    b.putInt(0, 0xBA55ED50).putShort(4, (short) 1).putShort(6, (short) 16).putLong(8, 3 * 72);
    int[][] entries = {{2, 80}, {1, 90}, {2, 90}};
    for (int i = 0; i < 3; i++) {
      int at = 16 + 72 * i;
      b.putShort(at, (short) entries[i][0]).putInt(at + 4, 64).putLong(at + 8, 8).putInt(at + 28, entries[i][1]);
    }
    assertEquals(Set.of(80, 90), KernelModule.sassArchitectures(b.array()));
    assertEquals(Set.of(), KernelModule.sassArchitectures(new byte[40]), "not a fatbin");
  }

  @Test void theBuiltFatbinHasSassForAmpereAndHopper() {
    byte[] fatbin = NativeLoader.readResource(KernelModule.FATBIN);
    if (fatbin == null) return; // built without nvcc: nothing to read
    Set<Integer> archs = KernelModule.sassArchitectures(fatbin);
    assertTrue(archs.containsAll(Set.of(80, 90)), archs.toString());
  }

  @Test void aDeviceRunsSassOfItsMajorVersionAtOrBelowItElseThePtx() {
    Set<Integer> sass = Set.of(80, 90, 100, 120);
    assertEquals("SASS sm_90", KernelModule.describeCode(sass, 90));
    assertEquals("SASS sm_80, which runs on sm_89", KernelModule.describeCode(sass, 89));
    assertEquals("SASS sm_120, which runs on sm_121", KernelModule.describeCode(sass, 121));
    assertEquals("PTX, compiled by the driver for sm_110", KernelModule.describeCode(sass, 110));
  }
}
