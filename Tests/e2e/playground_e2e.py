"""End-to-end test of the Playground: start `axon playground`, drive the page in headless Chromium
(Debian's chromium and chromium-driver, through selenium), train the spiral with tanh, and check that the
test loss shown on the page falls below a threshold. Saves a screenshot.

Usage: python3 playground_e2e.py AXON_BINARY SCREENSHOT.png [THRESHOLD] [SECONDS]
"""
import subprocess
import sys
import time

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

axon, screenshot = sys.argv[1], sys.argv[2]
threshold = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
budget = float(sys.argv[4]) if len(sys.argv) > 4 else 60

server = subprocess.Popen([axon, "playground", "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
driver = None
try:
    url = None
    for line in server.stdout:
        if "open http" in line:
            url = line.split("open ")[1].strip()
            break
    assert url, "the server did not print its address"
    options = Options()
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1400,1000"]:
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
    setup = ("#dataset=spiral&activation=tanh&features=x1,x2,x1Squared,x2Squared,x1x2,sinX1,sinX2"
             "&hiddenLayers=8,8,6&learningRate=0.01&optimizer=adam&batchSize=10&noise=0&trainRatio=50&showTestData=true")
    driver.get(url + setup)

    def loss(element_id):
        value = driver.find_element(By.ID, element_id).get_attribute("data-value")
        return float(value) if value else None

    start = time.time()
    while loss("test-loss") is None and time.time() - start < 20:
        time.sleep(0.2)
    initial = loss("test-loss")
    assert initial is not None, "the page never showed a test loss"
    assert driver.find_element(By.ID, "activation").get_attribute("value") == "tanh"
    assert "selected" in driver.find_element(By.ID, "dataset-spiral").get_attribute("class")
    play = driver.find_element(By.ID, "play")
    play.click()
    start = time.time()
    current = initial
    while time.time() - start < budget:
        time.sleep(0.25)
        current = loss("test-loss")
        if current is not None and current < threshold:
            # Pause, then judge the loss of the paused network (training may have moved on meanwhile).
            play.click()
            time.sleep(0.6)
            current = loss("test-loss")
            if current < threshold:
                break
            play.click()
    else:
        play.click()  # pause at the end of the budget
        time.sleep(0.6)
    elapsed = time.time() - start
    time.sleep(0.5)  # let the last snapshot draw
    epoch = driver.find_element(By.ID, "epoch").text
    current = loss("test-loss")
    driver.save_screenshot(screenshot)
    print(f"spiral with tanh: test loss {initial:.3f} -> {current:.3f} (threshold {threshold}) "
          f"after epoch {epoch}, {elapsed:.1f} s of training; screenshot {screenshot}")
    assert current < threshold, f"test loss {current} did not fall below {threshold} within {budget} s"
    # The setup is in the URL, so a link reproduces it.
    assert "dataset=spiral" in driver.current_url and "activation=tanh" in driver.current_url
finally:
    if driver:
        driver.quit()
    server.terminate()
    server.wait(timeout=10)
    assert server.returncode is not None
