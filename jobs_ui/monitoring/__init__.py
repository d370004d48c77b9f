"""What staff and monitoring read of workers and queues: health (``health``) and the last hour's throughput (``throughput``)."""
