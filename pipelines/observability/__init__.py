"""Operations: the Prometheus metrics of the product and the exporter that serves them."""
