/**
 * Batch inference with plugkit models on Apache Spark: {@link io.plugkit.spark.PlugkitScorer}.
 *
 * <p>Built and tested against Spark 4.2.0 (Scala 2.13, {@code spark-sql_2.13}, a {@code provided}
 * dependency: bring your own Spark) on JDK 25. Spark 4.2.0 is the first release whose Hadoop
 * client (3.5.0) no longer calls {@code Subject.getSubject}, which throws on JDK 24 and later
 * (HADOOP-19212). Spark 4.1.1 ships Hadoop 3.4.2: on JDK 25 its local session starts and runs
 * jobs, but {@code FileSystem.get} throws "getSubject is not supported" (seen at session start,
 * logged as warnings for ViewFileSystem and the warehouse path), and every Hadoop file read or
 * write goes through that call.
 *
 * <p>JVM options: {@code --enable-native-access=ALL-UNNAMED} (plugkit's FFM calls) and Spark's
 * own {@code --add-opens} list (its launcher's {@code JavaModuleOptions}); {@code spark-submit}
 * passes both to the driver and the executors. An application that starts a SparkSession in its
 * own JVM (tests, an embedded local session) puts them on its {@code java} command line; this
 * module's pom has the list ({@code spark.jvm.options}) and its tests run with it.
 */
package io.plugkit.spark;
