-- The Argo CD health of every kind of mlops.dev (one script; install it under each kind's key).
-- Conditions follow Kubernetes API conventions and kstatus: Ready, Reconciling, Stalled
-- (+ Succeeded for the runs, TrainingJob and Experiment), each with observedGeneration;
-- status.observedGeneration says which spec the operator last acted on. A Deployment also says
-- when its rollout is paused or rolled back.
local RUNS = {TrainingJob = true, Experiment = true}

local function condition(obj, type)
  if obj.status ~= nil and obj.status.conditions ~= nil then
    for _, c in ipairs(obj.status.conditions) do
      if c.type == type then
        return c
      end
    end
  end
  return nil
end

local function is_true(c)
  return c ~= nil and c.status == "True"
end

local function text(c, fallback)
  if c ~= nil and c.message ~= nil and c.message ~= "" then
    return c.message
  end
  if c ~= nil and c.reason ~= nil then
    return c.reason
  end
  return fallback
end

local hs = {}
local generation = obj.metadata.generation or 0
local observed = obj.status ~= nil and obj.status.observedGeneration or nil
if observed == nil or observed < generation then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to observe generation " .. generation
  return hs
end
local stalled = condition(obj, "Stalled")
if is_true(stalled) then
  hs.status = "Degraded"
  hs.message = text(stalled, "Stalled")
  return hs
end
if obj.kind == "Deployment" then
  local phase = obj.status.phase
  if (obj.spec ~= nil and obj.spec.paused == true) or phase == "Paused" then
    hs.status = "Suspended"
    hs.message = "Rollout paused at " .. (obj.status.trafficSummary or "its current weights")
    return hs
  end
  if phase == "RolledBack" or phase == "Aborted" or phase == "Failed" then
    hs.status = "Degraded"
    hs.message = text(condition(obj, "Ready"), "Rollout " .. phase)
    return hs
  end
end
if RUNS[obj.kind] then
  local succeeded = condition(obj, "Succeeded")
  if is_true(succeeded) then
    hs.status = "Healthy"
    hs.message = text(succeeded, "Succeeded")
    return hs
  end
  if succeeded ~= nil and succeeded.status == "False" then
    hs.status = "Degraded"
    hs.message = text(succeeded, "Failed")
    return hs
  end
  local reconciling = condition(obj, "Reconciling")
  hs.status = "Progressing"
  hs.message = text(reconciling, text(condition(obj, "Ready"), "Running"))
  return hs
end
local ready = condition(obj, "Ready")
local reconciling = condition(obj, "Reconciling")
if is_true(reconciling) then
  hs.status = "Progressing"
  hs.message = text(reconciling, "Reconciling")
  return hs
end
if is_true(ready) then
  hs.status = "Healthy"
  hs.message = text(ready, "Ready")
  return hs
end
hs.status = "Progressing"
hs.message = text(ready, "Waiting for Ready")
return hs
