// The job `deploy/local/flink.sh smoke` compiles, submits through the REST API and waits for: it proves the
// cluster runs a job across the TaskManager's slots without needing Beam or its job server.
// Batch mode: sum of 2*x for x in 0..999 (= 999000), computed at the cluster's default parallelism and
// printed, with the nonce given as its argument, to the TaskManager's stdout (.cache/flink/log/taskmanager.out).
import org.apache.flink.api.common.RuntimeExecutionMode;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

public class Smoke {
  public static void main(String[] args) throws Exception {
    String nonce = args.length > 0 ? args[0] : "-";
    StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
    env.setRuntimeMode(RuntimeExecutionMode.BATCH);
    env.fromSequence(0, 999)
        .map(x -> x * 2).returns(Types.LONG)
        .keyBy(x -> 0L).reduce(Long::sum)
        .map(sum -> "flink.sh smoke " + nonce + ": sum=" + sum).returns(Types.STRING)
        .print();
    env.execute("flink.sh smoke " + nonce);
  }
}
