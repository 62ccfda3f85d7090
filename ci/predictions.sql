SELECT P.project_name FROM project AS P JOIN division AS D ON P.division_id = D.id WHERE D.name = 'Security' ORDER BY P.budget
SELECT T1.project_name FROM project AS T1 JOIN division AS T2 ON T1.division_id = T2.id WHERE T2.name = 'Security' AND T1.budget < (SELECT avg(budget) FROM project)
SELECT T1.name FROM staff AS T1 JOIN division AS T2 ON T1.division_id = T2.id WHERE T2.name = 'Accounting'
SELECT T1.name FROM staff AS T1 JOIN assignment AS T2 ON T1.id = T2.staff_id JOIN project AS T3 ON T2.project_id = T3.id WHERE T3.project_name = 'Island Upgrade' ORDER BY T1.hire_year DESC
SELECT project_name FROM project WHERE budget > (SELECT avg(budget) FROM project) ORDER BY budget DESC
SELECT name FROM staff WHERE position = 'Consultant' AND
SELECT COUNT(*) FROM staff WHERE 120000 < annual_salary
SELECT name FROM division WHERE no_such_column > 1
SELECT avg(hire_year) FROM staff WHERE annual_salary > 120000
SELECT max(weekly_hours) FROM assignment
SELECT count(*), position FROM staff GROUP BY position
SELECT project_name FROM project WHERE division_id = (SELECT division_id FROM project GROUP BY division_id ORDER BY count(*) DESC LIMIT 1)
SELECT T2.restaurant_name FROM dish AS T1 JOIN restaurant AS T2 ON T1.restaurant_id = T2.id WHERE T1.price > 40 UNION SELECT T2.restaurant_name FROM dish AS T1 JOIN restaurant AS T2 ON T1.restaurant_id = T2.id WHERE T1.vegetarian = 'Y'
SELECT town, max(rating) FROM restaurant GROUP BY town
SELECT name FROM dish WHERE vegetarian = 'Y' ORDER BY price DESC LIMIT 1
SELECT T2.restaurant_name, count(*) FROM dish AS T1 JOIN restaurant AS T2 ON T1.restaurant_id = T2.id GROUP BY T1.restaurant_id
SELECT town, count(*) FROM restaurant GROUP BY town ORDER BY town DESC
SELECT T1.name FROM dish AS T1 JOIN restaurant AS T2 ON T1.restaurant_id = T2.id WHERE T2.restaurant_name = 'The Electric Island' ORDER BY T1.price DESC
SELECT cuisine_type, avg(price_level) FROM restaurant GROUP BY cuisine_type ORDER BY avg(price_level) DESC
SELECT DISTINCT restaurant_name FROM restaurant WHERE price_level > (SELECT avg(price_level) FROM restaurant)
SELECT T1.name FROM dish AS T1 JOIN restaurant AS T2 ON T1.restaurant_id = T2.id WHERE T2.restaurant_name = 'The Crimson Forest' AND T1.price > (SELECT avg(price) FROM dish)
SELECT outlet FROM critic GROUP BY outlet HAVING count(*) > 5
SELECT name FROM dish
DROP TABLE critic
