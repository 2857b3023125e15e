#!/usr/bin/env bash
# Predictions on several GPUs with torchrun; image ids are sharded by rank and rank r runs
# on cuda:r (every rank writes its own ids into the one --out folder):
#   tools/dist_predict_labels.sh GPUS CONFIG CHECKPOINT --img-dir DIR --out DIR [flags...]
GPUS=$1
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}

PYTHONPATH="$(dirname "$0")/..":$PYTHONPATH \
python -m torch.distributed.run \
    --nnodes="$NNODES" \
    --node_rank="$NODE_RANK" \
    --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" \
    --master_port="$PORT" \
    "$(dirname "$0")/predict_labels.py" \
    "${@:2}"
