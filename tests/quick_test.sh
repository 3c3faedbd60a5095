#!/bin/bash
BASE="http://127.0.0.1:8080"
KEY="Bearer test-api-key-12345"

echo "1. Health:" && curl -s "$BASE/health"
echo -e "\n2. Root:" && curl -s "$BASE/"
echo -e "\n3. Readiness:" && curl -s "$BASE/readiness"
echo -e "\n4. POST deployment:"
RESP=$(curl -s -X POST "$BASE/v1/deployments" -H "Content-Type: application/json" -H "Authorization: $KEY" \
  -d '{"hf_model_id":"stabilityai/sdxl-turbo","user_runpod_key":"rpa_test","user_webhook_url":"https://example.com/hook","gpu_tier":"A40"}')
echo "$RESP"
DEP_ID=$(echo "$RESP" | python3 -c "import sys,json; print(json.load(sys.stdin).get('deployment_id',''))")
echo -e "\n5. GET $DEP_ID:" && curl -s -H "Authorization: $KEY" "$BASE/v1/deployments/$DEP_ID"
echo -e "\n6. 401 test:" && curl -s -o /dev/null -w "%{http_code}" "$BASE/v1/deployments/$DEP_ID"
echo -e "\n7. 404 test:" && curl -s -o /dev/null -w "%{http_code}" -H "Authorization: $KEY" "$BASE/v1/deployments/dep_fake_123"
