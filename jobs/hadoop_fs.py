"""Files on any Hadoop filesystem (file:, s3a:, abfss:, hdfs:) through the JVM, so nothing assumes local disk."""

from __future__ import annotations

from pyspark.sql import SparkSession


def fs_path(spark: SparkSession, uri: str):
    """(FileSystem, Path) for a URI."""
    path = spark._jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark._jsc.hadoopConfiguration()), path


def list_files(spark: SparkSession, uri: str) -> list:
    """FileStatus of every file under `uri` (recursively), or [] when it does not exist."""
    fs, path = fs_path(spark, uri)
    if not fs.exists(path):
        return []
    out, it = [], fs.listFiles(path, True)
    while it.hasNext():
        out.append(it.next())
    return out


def data_files(spark: SparkSession, uri: str) -> list[str]:
    """Spark output part files under `uri`, sorted."""
    return sorted(st.getPath().toString() for st in list_files(spark, uri)
                  if st.getPath().getName().startswith("part-"))


def delete(spark: SparkSession, uri: str) -> None:
    fs, path = fs_path(spark, uri)
    if fs.exists(path):
        fs.delete(path, True)


def read_bytes(spark: SparkSession, uri: str) -> bytes:
    fs, path = fs_path(spark, uri)
    stream = fs.open(path)
    try:
        return bytes(spark._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
    finally:
        stream.close()


def write_bytes(spark: SparkSession, uri: str, data: bytes) -> None:
    fs, path = fs_path(spark, uri)
    stream = fs.create(path, True)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()


def first_line(spark: SparkSession, uri: str, limit: int = 1 << 20) -> str:
    """The first line of a text file (a CSV header), without reading the rest."""
    fs, path = fs_path(spark, uri)
    jvm = spark._jvm
    stream = fs.open(path)
    try:
        reader = jvm.java.io.BufferedReader(jvm.java.io.InputStreamReader(stream, "UTF-8"))
        return (reader.readLine() or "")[:limit]
    finally:
        stream.close()


def copy_tree(spark: SparkSession, src: str, dst: str) -> None:
    """Replaces `dst` with a copy of the folder `src`."""
    sfs, sp = fs_path(spark, src)
    dfs, dp = fs_path(spark, dst)
    if dfs.exists(dp):
        dfs.delete(dp, True)
    dfs.mkdirs(dp)
    for st in sfs.listStatus(sp):
        spark._jvm.org.apache.hadoop.fs.FileUtil.copy(sfs, st.getPath(), dfs, dp, False,
                                                      spark._jsc.hadoopConfiguration())
