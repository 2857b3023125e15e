#!/usr/bin/env bash
# Mask generation on several GPUs with torchrun; image ids are sharded by rank and rank r runs
# on cuda:r (every rank writes its own images into the one store):
#   tools/dist_generate_sam_masks.sh GPUS [tools/generate_sam_masks.py flags...]
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
    "$(dirname "$0")/generate_sam_masks.py" \
    "${@:2}"
