# syntax=docker/dockerfile:1
# Beam's Flink job server (Beam 2.62, Flink 1.19), which turns the Python pipeline into a Flink job and
# submits it to the JobManager's REST endpoint.
#
#   docker build -f deploy/docker/jobserver.Dockerfile -t engagement-reciprocity-jobserver:2.62.0 .
#
# Beam's shaded job-server jar is not served by the repositories this project can reach; the runner module
# and its runtime closure are (deploy/local/flink/jobserver-pom.xml says which and why), and the driver's main
# class is in the runner jar itself. So: Maven copies the closure, a JRE runs it.
# Build context: the repository root.
FROM maven:3.9.9-eclipse-temurin-17 AS jars
WORKDIR /build
COPY deploy/local/flink/jobserver-pom.xml pom.xml
RUN mvn -B --no-transfer-progress dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=/build/lib \
    && ls /build/lib/beam-runners-flink-1.19-*.jar

FROM eclipse-temurin:17.0.13_11-jre-jammy
RUN useradd --system --uid 10001 --no-create-home jobserver
COPY --from=jars /build/lib /opt/beam-jobserver/lib
USER 10001
# 8099 job service (the Python submitter's --job_endpoint), 8098 artifact staging, 8097 expansion service.
# --job-host: the driver binds all three to localhost unless told otherwise. It also hands that host back to
# the submitter as the artifact endpoint, so the submitter shares this container's network (Compose:
# network_mode service:jobserver; Kubernetes: the same pod) and reaches everything on localhost.
EXPOSE 8099 8098 8097
ENTRYPOINT ["java", "-cp", "/opt/beam-jobserver/lib/*", "org.apache.beam.runners.flink.FlinkJobServerDriver"]
CMD ["--flink-master=jobmanager:8081", "--job-host", "0.0.0.0", "--job-port", "8099", "--artifact-port", "8098", \
     "--expansion-port", "8097"]
